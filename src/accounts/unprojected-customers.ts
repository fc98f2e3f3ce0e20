/**
 * Customers whose Durable Object holds projections D1 has not confirmed (migrations/0006).
 * A customer's object records itself here when its alarm fails to project (a D1 outage, a
 * bug); the repair cron wakes every object listed until its outbox is empty. It is the
 * backstop of the object's own alarm, which also keeps retrying with backoff.
 */

export async function recordUnprojectedCustomer(d1: D1Database, customerId: string, error: string, now = Date.now()): Promise<void> {
  await d1
    .prepare(
      `INSERT INTO unprojected_customers (customer_id, since, last_error, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (customer_id) DO UPDATE SET last_error = excluded.last_error, updated_at = excluded.updated_at`,
    )
    .bind(customerId, now, error.slice(0, 500), now)
    .run();
}

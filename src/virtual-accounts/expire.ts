/**
 * `virtual_account.expired` (API §14): once per per_transaction account that expired unpaid.
 * Expiry itself needs no job (it is exact at read time: view.ts); this cron step only tells the
 * merchant. In one atomic batch it marks the account (`expired_event_at`, compare-and-set on it
 * being unset) and writes the event, whose `data.object` is the account as GET shows it at that
 * moment; UNIQUE (type, object_id) on events makes a second writer (two crons racing) a no-op.
 * The event's delivery row comes from migrations/0010's trigger, as for every event.
 */
import { and, asc, eq, isNull, lte } from "drizzle-orm";
import { database } from "../db/client";
import { virtualAccounts } from "../db/schema";
import type { Env } from "../env";
import { randomToken } from "../crypto";
import { dispatchAfterWrite } from "../webhooks/dispatch-after-write";
import { virtualAccountLimits } from "./limits";
import { virtualAccountView } from "./view";

export async function emitExpiredEvents(env: Env, now = Date.now()): Promise<number> {
  const db = database(env.DB);
  const expired = await db
    .select()
    .from(virtualAccounts)
    .where(and(eq(virtualAccounts.kind, "per_transaction"), eq(virtualAccounts.status, "active"), isNull(virtualAccounts.expired_event_at), lte(virtualAccounts.expires_at, now)))
    .orderBy(asc(virtualAccounts.expires_at))
    .limit(virtualAccountLimits.repair_batch_rows);
  let emitted = 0;
  for (const account of expired) {
    const marked = { ...account, expired_event_at: now, updated_at: now };
    const data = JSON.stringify({ object: virtualAccountView(marked, now) });
    // Raw SQL: a conditional insert (drizzle cannot say INSERT … SELECT … WHERE EXISTS). The
    // event is written only while the account is still unpaid, open and unannounced; the mark
    // after it, in the same batch, makes the next run skip it.
    const [inserted] = await env.DB.batch([
      env.DB.prepare(
        `INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
         SELECT ?1, 'virtual_account.expired', ?2, 'virtual_account', ?3, ?4, ?5
         WHERE EXISTS (SELECT 1 FROM virtual_accounts WHERE id = ?3 AND status = 'active' AND expired_event_at IS NULL AND expires_at <= ?5)`,
      ).bind(`evt_${randomToken(24)}`, account.merchant_id, account.id, data, now),
      // Raw too: it shares the insert's D1 batch, which takes D1 statements, not drizzle queries.
      env.DB.prepare("UPDATE virtual_accounts SET expired_event_at = ?2, updated_at = ?2 WHERE id = ?1 AND status = 'active' AND expired_event_at IS NULL AND expires_at <= ?2").bind(account.id, now),
    ]);
    if (inserted && inserted.meta.changes > 0) emitted++;
  }
  // Delivered at once rather than at the webhook backstop's next pass.
  if (emitted > 0) await dispatchAfterWrite(env, expired.map((account) => account.merchant_id));
  return emitted;
}

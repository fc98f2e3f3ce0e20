/** The repair cron's backstop for customer objects whose alarm could not project (see unprojected-customers.ts). */
import { customerAccountStub } from "../accounts/customer-account";
import type { Env } from "../env";
import { log } from "../log";
import { repairLimits } from "./repair-limits";

/**
 * Wakes the objects of recorded customers (oldest first, a bounded number per run): each
 * replays its outbox now; a customer whose outbox is empty is forgotten. Returns how many
 * were drained.
 */
export async function wakeUnprojectedCustomers(env: Env, now = Date.now()): Promise<{ woken: number; drained: number }> {
  const { results } = await env.DB.prepare("SELECT customer_id, updated_at FROM unprojected_customers ORDER BY updated_at LIMIT ?")
    .bind(repairLimits.batch_rows)
    .all<{ customer_id: string; updated_at: number }>();
  let drained = 0;
  for (const { customer_id, updated_at } of results) {
    const account = customerAccountStub(env, customer_id);
    try {
      await account.flushProjections();
    } catch (error) {
      log("warn", "unprojected customer still failing", { customer_id, error: String(error) });
      continue;
    }
    if ((await account.unprojected()) > 0) continue;
    // Forget it only if nothing recorded it again meanwhile.
    await env.DB.prepare("DELETE FROM unprojected_customers WHERE customer_id = ? AND updated_at = ?").bind(customer_id, updated_at).run();
    drained++;
  }
  if (results.length > 0) log("warn", "woke customers with unprojected operations", { woken: results.length, drained, at: now });
  return { woken: results.length, drained };
}

/** The repair cron's backstop for customer objects whose alarm could not project (see unprojected-customers.ts). */
import { and, asc, eq } from "drizzle-orm";
import { customerAccountStub } from "../accounts/customer-account";
import { database } from "../db/client";
import { unprojectedCustomers } from "../db/schema";
import type { Env } from "../env";
import { log } from "../log";
import { repairLimits } from "./repair-limits";

/**
 * Wakes the objects of recorded customers (oldest first, a bounded number per run): each
 * replays its outbox now; a customer whose outbox is empty is forgotten. Returns how many
 * were drained.
 */
export async function wakeUnprojectedCustomers(env: Env, now = Date.now()): Promise<{ woken: number; drained: number }> {
  const db = database(env.DB);
  const results = await db
    .select({ customer_id: unprojectedCustomers.customer_id, updated_at: unprojectedCustomers.updated_at })
    .from(unprojectedCustomers)
    .orderBy(asc(unprojectedCustomers.updated_at))
    .limit(repairLimits.batch_rows);
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
    await db.delete(unprojectedCustomers).where(and(eq(unprojectedCustomers.customer_id, customer_id), eq(unprojectedCustomers.updated_at, updated_at)));
    drained++;
  }
  if (results.length > 0) log("warn", "woke customers with unprojected operations", { woken: results.length, drained, at: now });
  return { woken: results.length, drained };
}

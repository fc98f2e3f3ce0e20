/**
 * Own accounts only (API §7, *cuenta propia*): a payout goes only to an account its customer
 * holds. A CUIT is public, so a merchant that knows one must not be able to send that
 * customer's balance anywhere else. The account is the customer's when
 *   1. we have received a transfer from it whose sender CUIT is the customer's (the bank
 *      vouches for a sender's data): one indexed read of D1, checked first; or
 *   2. the bank's account-holder lookup reports the customer's CUIT as its holder (one call to
 *      the bank, made only when D1 has no such transfer).
 * Checked before anything is reserved: a refusal moves nothing, and so does a bank that does
 * not answer (503; the client retries with the same Idempotency-Key).
 */
import { and, eq, sql } from "drizzle-orm";
import { bankAdapter, TransientBankError, type AccountHolder } from "../bank/adapter";
import { BoundedCache } from "../cache";
import { database } from "../db/client";
import { payments } from "../db/schema";
import { normalizeCuit } from "../domain/cuit";
import { loadConfig, type Env } from "../env";
import { ApiError } from "../errors";
import { limits } from "../limits";
import { log } from "../log";

/** Throws 422 invalid_destination unless `destinationCbu` is an account the customer holds, 503 if the bank cannot say. */
export async function requireOwnAccount(env: Env, customer: { id: string; cuit: string }, destinationCbu: string): Promise<void> {
  if (await receivedFrom(env.DB, destinationCbu, customer.cuit)) return;
  const holder = await askBank(env, destinationCbu);
  if (holder !== null && normalizeCuit(holder.cuit) === customer.cuit) return;
  throw new ApiError(
    "invalid_destination",
    "The destination is not an account the customer holds: pay out to an account the customer has transferred from, " +
      "or one the bank reports in the customer's name.",
    [{ path: "destination_cbu", message: "not an account of the customer (the default is the customer's CBU on file)" }],
  );
}

/**
 * Accounts proven to be their sender's, per isolate: a payment is never deleted and its sender
 * never rewritten, so once D1 holds a transfer from (CBU, CUIT) it always will. Only a found
 * pair is remembered; one not found is asked again (a transfer from it may arrive any time).
 */
const provenAccounts = new BoundedCache<true>(limits.own_account_cache_entries);

/**
 * Whether a transfer came from this CBU with this sender CUIT. Both arrive as the bank wrote
 * them; the index payments_by_sender_account (migration 0008) holds them without dashes, and
 * this query must use the very same expressions to be served by it.
 */
async function receivedFrom(d1: D1Database, cbu: string, cuit: string): Promise<boolean> {
  const pair = `${cbu} ${cuit}`;
  if (provenAccounts.get(pair)) return true;
  const row = await database(d1)
    .select({ found: sql<number>`1` })
    .from(payments)
    .where(and(eq(sql`REPLACE(${payments.sender_cbu}, '-', '')`, cbu), eq(sql`REPLACE(${payments.sender_cuit}, '-', '')`, cuit)))
    .limit(1)
    .get();
  if (row !== undefined) provenAccounts.set(pair, true);
  return row !== undefined;
}

async function askBank(env: Env, cbu: string): Promise<AccountHolder | null> {
  try {
    return await bankAdapter(env, loadConfig(env)).accountHolder(cbu);
  } catch (error) {
    if (!(error instanceof TransientBankError)) throw error;
    log("warn", "account-holder lookup failed", { error: String(error) });
    throw new ApiError("unavailable", "The bank could not confirm who holds the destination account; nothing moved. Retry with the same Idempotency-Key.");
  }
}

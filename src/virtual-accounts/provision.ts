/**
 * Provisioning a virtual account (API §11) is a saga with the bank:
 *
 *   1. allocate a CVU number: a `cvu_allocations` row keyed by the account's id (AUTOINCREMENT:
 *      never handed out twice, never reused; allocating again for the same id finds the same one)
 *   2. store the account `registering`: it routes nowhere, lists nowhere, reads as absent
 *   3. register the number with the bank (idempotent at the bank)
 *   4. activate it (compare-and-set registering → active)
 *
 * A failure at 3 answers 503 and leaves the account registering. The account's id is derived
 * from the Idempotency-Key's claim, so the client's retry with the same key walks the same
 * steps for the same id and number and finishes it; a per_customer creation finishes the pair's
 * registering account whatever its key. Anything still registering after a while is finished,
 * or after longer retired, by the repair cron (finishRegistrations). No step can leave an
 * account that reads as active without the bank having it.
 */
import { and, eq, inArray, lt, ne } from "drizzle-orm";
import type { IdempotencyClaim } from "../context";
import { bankAdapter, TransientBankError } from "../bank/adapter";
import { derivedId, newId } from "../crypto";
import { database, type Db } from "../db/client";
import { cvuAllocations, virtualAccounts, type VirtualAccountRow } from "../db/schema";
import { cvuOf } from "../domain/cvu";
import type { Config, Env } from "../env";
import { ApiError } from "../errors";
import { faultPoint } from "../faults";
import { log } from "../log";
import { virtualAccountLimits } from "./limits";

export interface NewVirtualAccount {
  merchant_id: string;
  customer_id: string;
  kind: "per_customer" | "per_transaction";
  currency: string;
  expected_amount: number | null;
  expires_at: number | null;
  amount_policy: "accept" | "reject" | "hold" | null;
  ledger_account_id: string | null;
  description: string | null;
}

/** `created`: this call made the account active (201); otherwise another did, or it was already (200). */
export type Provisioned = { account: VirtualAccountRow; created: boolean };

/** The account's id: from the key's claim (a retry finishes the same account), else fresh. */
export async function virtualAccountIdFor(claim: IdempotencyClaim | undefined): Promise<string> {
  // The claim id survives a 5xx (the retry takes the claim over) and changes when the key is
  // reused after its retention: the same key then makes a new account, as for payouts.
  return claim ? derivedId("va", `virtual_account:${claim.scope}:${claim.key}:${claim.claim_id}`) : newId("va");
}

export async function provisionVirtualAccount(env: Env, config: Config, id: string, input: NewVirtualAccount, now = Date.now()): Promise<Provisioned> {
  const db = database(env.DB);
  if (input.kind === "per_customer") {
    const existing = await perCustomerAccount(db, input.customer_id, input.merchant_id);
    if (existing && existing.status !== "registering") return { account: existing, created: false };
    if (existing) return finishRegistration(env, config, existing);
  }

  const previous = await db.select().from(virtualAccounts).where(eq(virtualAccounts.id, id)).get();
  // This key's own account, from an earlier attempt of the request: its creation, answered 201.
  if (previous) return { account: (await resume(env, config, previous)).account, created: true };

  const seq = await allocate(db, id, now);
  faultPoint("virtual_account.after_allocation");
  const inserted = await db
    .insert(virtualAccounts)
    .values({ id, account_number: cvuOf(config.cvuPspCode, seq), status: "registering", ...input, created_at: now, updated_at: now })
    .onConflictDoNothing()
    .returning()
    .get();
  if (!inserted) {
    // Lost a race: the same id (a concurrent retry of this key), or, per_customer, the pair's
    // one account (the partial unique index). Either way, that one is the answer.
    const winner = (await db.select().from(virtualAccounts).where(eq(virtualAccounts.id, id)).get()) ?? (input.kind === "per_customer" ? await perCustomerAccount(db, input.customer_id, input.merchant_id) : undefined);
    if (!winner) throw new Error(`virtual account ${id}: insert refused and no account found`);
    const resumed = await resume(env, config, winner);
    return winner.id === id ? { account: resumed.account, created: true } : resumed;
  }
  faultPoint("virtual_account.after_insert");
  return finishRegistration(env, config, inserted);
}

/** The pair's per_customer account, unless retired (a retired one frees the pair). */
async function perCustomerAccount(db: Db, customerId: string, merchantId: string): Promise<VirtualAccountRow | undefined> {
  return db
    .select()
    .from(virtualAccounts)
    .where(and(eq(virtualAccounts.customer_id, customerId), eq(virtualAccounts.merchant_id, merchantId), eq(virtualAccounts.kind, "per_customer"), ne(virtualAccounts.status, "retired")))
    .get();
}

async function resume(env: Env, config: Config, account: VirtualAccountRow): Promise<Provisioned> {
  if (account.status === "registering") return finishRegistration(env, config, account);
  if (account.status === "retired") {
    throw new ApiError("conflict", `This creation was abandoned after the bank did not register its number in time (${account.id}); create it again with a new Idempotency-Key.`);
  }
  return { account, created: false };
}

/** Step 1: the number for this account id; the same one if it was allocated before. */
async function allocate(db: Db, virtualAccountId: string, now: number): Promise<number> {
  const [, rows] = await db.batch([
    db.insert(cvuAllocations).values({ virtual_account_id: virtualAccountId, allocated_at: now }).onConflictDoNothing(),
    db.select({ seq: cvuAllocations.seq }).from(cvuAllocations).where(eq(cvuAllocations.virtual_account_id, virtualAccountId)),
  ]);
  const seq = rows[0]?.seq;
  if (seq === undefined) throw new Error(`no CVU allocated for ${virtualAccountId}`);
  return seq;
}

/** Steps 3 and 4 for a registering account. A bank that does not answer is 503: retry. */
export async function finishRegistration(env: Env, config: Config, account: VirtualAccountRow): Promise<Provisioned> {
  try {
    await bankAdapter(env, config).registerVirtualAccount(account.account_number);
  } catch (error) {
    if (!(error instanceof TransientBankError)) throw error;
    log("warn", "virtual account registration failed; the account stays registering", { virtual_account_id: account.id, error: String(error) });
    throw new ApiError("unavailable", "The bank did not register the account number; nothing is active yet. Retry with the same Idempotency-Key.");
  }
  faultPoint("virtual_account.after_registration");
  const now = Date.now();
  const db = database(env.DB);
  const activated = await db
    .update(virtualAccounts)
    .set({ status: "active", registered_at: now, updated_at: now })
    .where(and(eq(virtualAccounts.id, account.id), eq(virtualAccounts.status, "registering")))
    .returning()
    .get();
  if (activated) return { account: activated, created: true };
  // Someone else activated it (a concurrent retry, the cron) or retired it meanwhile.
  const current = await db.select().from(virtualAccounts).where(eq(virtualAccounts.id, account.id)).get();
  if (!current) throw new Error(`virtual account ${account.id} vanished`);
  return resume(env, config, current);
}

export interface RegistrationRepair {
  activated: number;
  retired: number;
  still_failing: number;
}

/**
 * The repair cron's step: accounts registering for longer than a request lives are finished
 * (the bank asked again, then activated); those registering past the give-up age are retired,
 * their numbers never reused. Bounded per run.
 */
export async function finishRegistrations(env: Env, config: Config, now = Date.now()): Promise<RegistrationRepair> {
  const db = database(env.DB);
  const stale = await db
    .select()
    .from(virtualAccounts)
    .where(and(eq(virtualAccounts.status, "registering"), lt(virtualAccounts.created_at, now - virtualAccountLimits.registration_stale_ms)))
    .orderBy(virtualAccounts.created_at)
    .limit(virtualAccountLimits.repair_batch_rows);
  const report: RegistrationRepair = { activated: 0, retired: 0, still_failing: 0 };
  const giveUp: string[] = [];
  for (const account of stale) {
    if (account.created_at < now - virtualAccountLimits.registration_give_up_ms) {
      giveUp.push(account.id);
      continue;
    }
    try {
      await finishRegistration(env, config, account);
      report.activated++;
    } catch (error) {
      report.still_failing++;
      log("warn", "virtual account registration still failing", { virtual_account_id: account.id, error: String(error) });
    }
  }
  if (giveUp.length > 0) {
    const retired = await db
      .update(virtualAccounts)
      .set({ status: "retired", updated_at: now })
      .where(and(inArray(virtualAccounts.id, giveUp), eq(virtualAccounts.status, "registering")))
      .returning({ id: virtualAccounts.id });
    report.retired = retired.length;
    log("warn", "retired virtual accounts the bank never registered", { retired: retired.length });
  }
  return report;
}

/**
 * A balance account's updated_at (and so its balance_account.balance.updated events') never
 * moves backwards (migrations/0022). Writers stamp it with a clock read before their batch: the
 * group commit's `now` precedes its read round trip, so a transfer committed meanwhile can stamp
 * a later time than the group's write that follows it. Each test replays that interleaving with
 * fixed clocks: a write stamped `later`, then one stamped `earlier`.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { groupCommitStatements, type PaymentProjection } from "../../src/accounts/group-commit-statements";
import { merchantAccount } from "../../src/ledger/accounts";
import { executeTransfer, type TransferOrder } from "../../src/transfers/execute-transfer";
import { createMerchant } from "../helpers";
import { drainPayoutQueue, expectInvariants, fundedCustomer, postPayout, settle, uniqueId } from "../money";
import { merchantBa } from "./transfer-helpers";

const later = Date.now() + 3_600_000;
const earlier = later - 60_000;

async function updatedAtOf(merchantId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT updated_at FROM ledger_accounts WHERE id = ?").bind(merchantAccount(merchantId, "ARS").id).first<{ updated_at: number }>();
  return row!.updated_at;
}

/** The updated_at of each balance_account.balance.updated event of the merchant's account, oldest first. */
async function eventTimes(merchantId: string): Promise<string[]> {
  const { results } = await env.DB.prepare(
    `SELECT data->>'$.object.updated_at' AS updated_at FROM events
     WHERE type = 'balance_account.balance.updated' AND object_id LIKE ? ORDER BY rowid`,
  )
    .bind(`${merchantBa(merchantId)}:%`)
    .all<{ updated_at: string }>();
  return results.map((row) => row.updated_at);
}

/** A cash-in to the merchant (no customer: its unassigned money), as the group commit carries it. */
function cashIn(merchantId: string, amount: number, now: number): PaymentProjection {
  const id = uniqueId("pay").replace(/[^a-z0-9_]/g, "");
  return {
    kind: "payment.recorded",
    op_id: id,
    event: null,
    payment: {
      id,
      bank_transaction_id: uniqueId("btx"),
      status: "credited",
      amount,
      currency: "ARS",
      customer_id: null,
      merchant_id: merchantId,
      sender_cuit: null,
      sender_name: null,
      sender_cbu: null,
      concepto: null,
      destination_account_number: null,
      matched_by: "merchant_reference",
      booked_at: now,
      created_at: now,
    },
  };
}

function order(from: string, to: string, amount: number): TransferOrder {
  return {
    id: uniqueId("tr").replace(/[^a-z0-9_]/g, "").toLowerCase(),
    kind: "transfer",
    from_balance_account: from,
    to_balance_account: to,
    amount,
    currency: "ARS",
    description: null,
    initiated_by: "operator",
  };
}

describe("a balance account's updated_at never decreases", () => {
  it("a group commit stamped before a transfer that committed first leaves the transfer's later updated_at", async () => {
    const { merchant: payer } = await fundedCustomer(5_000);
    const merchant = await createMerchant();
    expect((await executeTransfer(env, order(merchantBa(payer.id), merchantBa(merchant.id), 1_000), later)).result).toBe("created");
    expect(await updatedAtOf(merchant.id)).toBe(later);

    // The group read its clock (`earlier`) before the transfer committed, and writes after it.
    await env.DB.batch(groupCommitStatements(env.DB, [cashIn(merchant.id, 700, earlier)], [], earlier));

    expect(await updatedAtOf(merchant.id)).toBe(later);
    const times = await eventTimes(merchant.id);
    expect(times).toHaveLength(2);
    expect(times[1]! >= times[0]!).toBe(true);
    await expectInvariants();
  });

  it("a transfer stamped before a group commit that committed first leaves the group's later updated_at (the entry trigger)", async () => {
    const { merchant: payer } = await fundedCustomer(5_000);
    const merchant = await createMerchant();
    await env.DB.batch(groupCommitStatements(env.DB, [cashIn(merchant.id, 700, later)], [], later));
    expect(await updatedAtOf(merchant.id)).toBe(later);

    expect((await executeTransfer(env, order(merchantBa(payer.id), merchantBa(merchant.id), 1_000), earlier)).result).toBe("created");
    // and a debit stamped earlier still (the entry trigger's debit side)
    expect((await executeTransfer(env, order(merchantBa(merchant.id), merchantBa(payer.id), 300), earlier - 1_000)).result).toBe("created");

    expect(await updatedAtOf(merchant.id)).toBe(later);
    const times = await eventTimes(merchant.id);
    expect(times).toHaveLength(3);
    expect([...times].sort()).toEqual(times);
    await expectInvariants();
  });

  it("a payout's settlement stamped before a transfer that committed first leaves the transfer's later updated_at (the settled-entry trigger)", async () => {
    const { merchant, customer } = await fundedCustomer(5_000);
    const { merchant: payer } = await fundedCustomer(5_000);
    const paid = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 1_000 })).json()) as { id: string };
    await drainPayoutQueue([paid.id]);
    expect((await executeTransfer(env, order(merchantBa(payer.id), merchantBa(merchant.id), 1_000), later)).result).toBe("created");

    // The settlement's ledger transaction is stamped with the real clock, before `later`.
    expect((await settle(paid.id, "completed")).status).toBe(200);
    expect(await updatedAtOf(merchant.id)).toBe(later);
    const times = await eventTimes(merchant.id);
    expect([...times].sort()).toEqual(times);
    await expectInvariants();
  });

  it("a later write still moves updated_at forward", async () => {
    const { merchant: payer } = await fundedCustomer(5_000);
    const merchant = await createMerchant();
    await env.DB.batch(groupCommitStatements(env.DB, [cashIn(merchant.id, 700, earlier)], [], earlier));
    expect(await updatedAtOf(merchant.id)).toBe(earlier);
    expect((await executeTransfer(env, order(merchantBa(payer.id), merchantBa(merchant.id), 1_000), later)).result).toBe("created");
    expect(await updatedAtOf(merchant.id)).toBe(later);
    await env.DB.batch(groupCommitStatements(env.DB, [cashIn(merchant.id, 500, later + 5)], [], later + 5));
    expect(await updatedAtOf(merchant.id)).toBe(later + 5);
  });
});

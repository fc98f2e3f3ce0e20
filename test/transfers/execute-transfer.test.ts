/**
 * executeTransfer, the core every internal transfer goes through (POST /v1/transfers, top-ups,
 * sweeps, reserve releases): one batch writes the row and its ledger transaction, the no_overdraft
 * trigger refuses an overdraft in that batch, the same id with the same data replays and with any
 * other data is a conflict that moves nothing.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { armFault, disarmFaults, InjectedFault } from "../../src/faults";
import { balanceAccountId, merchantAccount, platformBalanceAccount, reserveAccount } from "../../src/ledger/accounts";
import { readBalanceAccount } from "../../src/ledger/balances";
import { executeTransfer, type TransferOrder } from "../../src/transfers/execute-transfer";
import { createMerchant } from "../helpers";
import { expectInvariants, fundedCustomer, uniqueId } from "../money";

afterEach(() => disarmFaults());

const balanceOf = (merchantId: string) => balanceAccountId(merchantAccount(merchantId, "ARS").id);

async function available(baId: string): Promise<number> {
  const account = await readBalanceAccount(env.DB, baId);
  expect(account).not.toBeNull();
  return account!.available;
}

async function ledgerOf(transferId: string) {
  const { results } = await env.DB.prepare("SELECT ledger_account_id, direction, amount, status FROM ledger_entries WHERE transaction_id = ? ORDER BY id")
    .bind(`lt_${transferId}`)
    .all();
  return results;
}

async function order(overrides: Partial<TransferOrder> = {}): Promise<TransferOrder> {
  return {
    id: uniqueId("tr").replace(/[^a-z0-9_]/g, "").toLowerCase(),
    kind: "transfer",
    from_balance_account: "",
    to_balance_account: "",
    amount: 1000,
    currency: "ARS",
    description: "test",
    initiated_by: "operator",
    ...overrides,
  };
}

describe("executeTransfer", () => {
  it("moves the amount in one posted ledger transaction, and a repeat with the same data replays without moving again", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const from = balanceOf(merchant.id);
    const to = balanceOf(other.id);
    const first = await order({ from_balance_account: from, to_balance_account: to, amount: 3_000, metadata: { sweep_id: "sw_1" } });

    const created = await executeTransfer(env, first, Date.now());
    expect(created.result).toBe("created");
    expect(await available(from)).toBe(7_000);
    expect(await available(to)).toBe(3_000);
    expect(await ledgerOf(first.id)).toEqual([
      { ledger_account_id: merchantAccount(merchant.id, "ARS").id, direction: "debit", amount: 3_000, status: "posted" },
      { ledger_account_id: merchantAccount(other.id, "ARS").id, direction: "credit", amount: 3_000, status: "posted" },
    ]);

    const again = await executeTransfer(env, { ...first, metadata: { sweep_id: "sw_1" } }, Date.now() + 5);
    expect(again.result).toBe("replayed");
    if (again.result !== "replayed" || created.result !== "created") throw new Error("unreachable");
    expect(again.transfer).toEqual(created.transfer);
    expect(await available(from)).toBe(7_000);
    expect(await available(to)).toBe(3_000);
    await expectInvariants();
  });

  it("a repeat of the id with any field changed is a conflict and moves nothing", async () => {
    const { merchant } = await fundedCustomer(10_000);
    const other = await createMerchant();
    const from = balanceOf(merchant.id);
    const to = balanceOf(other.id);
    const first = await order({ from_balance_account: from, to_balance_account: to, amount: 1_000 });
    expect((await executeTransfer(env, first, Date.now())).result).toBe("created");

    const variants: Partial<TransferOrder>[] = [
      { amount: 1_001 },
      { to_balance_account: balanceAccountId(reserveAccount(merchant.id, "ARS").id) },
      { from_balance_account: balanceAccountId(platformBalanceAccount("ARS").id) },
      { description: "other" },
      { description: null },
      { kind: "sweep" },
      { initiated_by: merchant.id },
      { metadata: { note: "x" } },
    ];
    for (const variant of variants) {
      const outcome = await executeTransfer(env, { ...first, ...variant }, Date.now());
      expect(outcome.result, JSON.stringify(variant)).toBe("conflict");
    }
    expect(await available(from)).toBe(9_000);
    expect(await available(to)).toBe(1_000);
    expect(await ledgerOf(first.id)).toHaveLength(2);
    await expectInvariants();
  });

  it("refuses an overdraft in the batch: no row, no entries, no event, and the id stays free", async () => {
    const { merchant } = await fundedCustomer(500);
    const other = await createMerchant();
    const from = balanceOf(merchant.id);
    const first = await order({ from_balance_account: from, to_balance_account: balanceOf(other.id), amount: 501 });

    expect(await executeTransfer(env, first, Date.now())).toEqual({ result: "insufficient_funds" });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM transfers WHERE id = ?").bind(first.id).first("n")).toBe(0);
    expect(await ledgerOf(first.id)).toEqual([]);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE object_id LIKE ?").bind(`${first.id}:%`).first("n")).toBe(0);
    expect(await available(from)).toBe(500);

    expect((await executeTransfer(env, { ...first, amount: 500 }, Date.now())).result).toBe("created");
    expect(await available(from)).toBe(0);
    await expectInvariants();
  });

  it("names the missing account: a customer's ledger account is no balance account", async () => {
    const { merchant, customer } = await fundedCustomer(1_000);
    const from = balanceOf(merchant.id);
    const customerBa = `ba_c${customer.id.slice(4)}_ars`;
    expect(await executeTransfer(env, await order({ from_balance_account: "ba_mnobody_ars", to_balance_account: from }), Date.now())).toEqual({
      result: "not_found",
      field: "from_balance_account",
    });
    expect(await executeTransfer(env, await order({ from_balance_account: from, to_balance_account: customerBa }), Date.now())).toEqual({
      result: "not_found",
      field: "to_balance_account",
    });
    expect(await available(from)).toBe(1_000);
  });

  it("a crash after the batch leaves a whole transfer that a retry replays", async () => {
    const { merchant } = await fundedCustomer(2_000);
    const other = await createMerchant();
    const first = await order({ from_balance_account: balanceOf(merchant.id), to_balance_account: balanceOf(other.id), amount: 2_000 });
    armFault("transfer.after_batch");
    await expect(executeTransfer(env, first, Date.now())).rejects.toBeInstanceOf(InjectedFault);
    const retry = await executeTransfer(env, first, Date.now());
    expect(retry.result).toBe("replayed");
    expect(await available(balanceOf(merchant.id))).toBe(0);
    expect(await available(balanceOf(other.id))).toBe(2_000);
    await expectInvariants();
  });
});

/**
 * transfers_match_ledger and ledger_transactions_accounted over transfers: a corrupted transfer
 * row (or its ledger transaction's cause) turns exactly the check that must notice red, naming
 * the row; restored, every check is green again after a full pass.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createMerchant } from "../helpers";
import { expectInvariants, fundedCustomer, invariantsAfterFullPass, type InvariantsReport } from "../money";
import { merchantBa, postTransfer, type TransferBody } from "./transfer-helpers";

let transferId: string;

beforeAll(async () => {
  const { merchant } = await fundedCustomer(5_000);
  const other = await createMerchant();
  const response = await postTransfer(merchant.api_key, { from_balance_account: merchantBa(merchant.id), to_balance_account: merchantBa(other.id), amount: 2_000 });
  expect(response.status).toBe(201);
  transferId = ((await response.json()) as TransferBody).id;
  await expectInvariants();
});

const run = (sql: string, ...params: unknown[]) => env.DB.prepare(sql).bind(...params).run();
const failing = (report: InvariantsReport) => Object.fromEntries(report.checks.filter((check) => !check.ok).map((check) => [check.name, check.detail]));

async function expectCaught(corrupt: () => Promise<unknown>, restore: () => Promise<unknown>, red: Record<string, string>): Promise<void> {
  await corrupt();
  try {
    const report = await invariantsAfterFullPass();
    expect(report.ok).toBe(false);
    const failed = failing(report);
    expect(Object.keys(failed).sort()).toEqual(Object.keys(red).sort());
    for (const [name, text] of Object.entries(red)) expect(failed[name]).toContain(text);
  } finally {
    await restore();
  }
  await expectInvariants();
}

describe("invariants over transfers", () => {
  it("a transfer whose amount differs from its ledger transaction: transfers_match_ledger", async () => {
    await expectCaught(
      () => run("UPDATE transfers SET amount = 2001 WHERE id = ?", transferId),
      () => run("UPDATE transfers SET amount = 2000 WHERE id = ?", transferId),
      { transfers_match_ledger: `${transferId}: lt_${transferId} has` },
    );
  });

  it("a transfer naming another destination than its ledger transaction credits: transfers_match_ledger", async () => {
    const row = await env.DB.prepare("SELECT to_balance_account FROM transfers WHERE id = ?").bind(transferId).first<{ to_balance_account: string }>();
    const intruder = await createMerchant();
    await expectCaught(
      () => run("UPDATE transfers SET to_balance_account = ?, to_owner_id = ? WHERE id = ?", merchantBa(intruder.id), intruder.id, transferId),
      () => run("UPDATE transfers SET to_balance_account = ?, to_owner_id = (SELECT owner_id FROM ledger_accounts WHERE id = 'la_' || substr(?, 4)) WHERE id = ?", row!.to_balance_account, row!.to_balance_account, transferId),
      { transfers_match_ledger: `${transferId}: lt_${transferId} has` },
    );
  });

  it("a transfer whose owners are not its accounts' (who sees it): transfers_match_ledger", async () => {
    const row = await env.DB.prepare("SELECT from_owner_id FROM transfers WHERE id = ?").bind(transferId).first<{ from_owner_id: string }>();
    await expectCaught(
      () => run("UPDATE transfers SET from_owner_id = 'mer_someoneelse' WHERE id = ?", transferId),
      () => run("UPDATE transfers SET from_owner_id = ? WHERE id = ?", row!.from_owner_id, transferId),
      { transfers_match_ledger: `${transferId}: owners mer_someoneelse` },
    );
  });

  it("a transfer's ledger transaction naming no transfer: ledger_transactions_accounted", async () => {
    await expectCaught(
      () => run("UPDATE ledger_transactions SET ledgerable_id = 'tr_gone' WHERE id = ?", `lt_${transferId}`),
      () => run("UPDATE ledger_transactions SET ledgerable_id = ? WHERE id = ?", transferId, `lt_${transferId}`),
      { ledger_transactions_accounted: `lt_${transferId}: names transfer/tr_gone` },
    );
  });
});

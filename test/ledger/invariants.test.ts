/**
 * GET /v1/admin/invariants cannot be green while the books are wrong: each test corrupts one
 * row straight in D1 (or in a customer's object), sees exactly the checks that must notice go
 * red, naming the row, then restores it and sees every check green after a full pass.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { customerAccount, merchantAccount, platformAccountId, reserveAccount } from "../../src/ledger/accounts";
import { createCustomer, createMerchant, randomCbu, type TestMerchant } from "../helpers";
import {
  drainPayoutQueue,
  expectInvariants,
  fund,
  invariantsAfterFullPass,
  postPayout,
  sendBankEvent,
  settle,
  transferEvent,
  type InvariantsReport,
} from "../money";

interface Book {
  merchant: TestMerchant;
  customerId: string;
  creditedPaymentId: string;
  quarantinedPaymentId: string;
  pendingPayoutId: string;
  completedPayoutId: string;
}

let book: Book;

async function payout(merchant: TestMerchant, customerId: string, amount: number): Promise<string> {
  const response = await postPayout(merchant.api_key, { customer_id: customerId, amount });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

/** A small book with one of each: a credited and a quarantined cash-in, a pending and a completed payout. */
async function buildBook(): Promise<Book> {
  const merchant = await createMerchant();
  const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
  const creditedPaymentId = await fund(merchant, customer.id, 50_000);
  const quarantined = transferEvent({ amount: 3_000, concepto: "no reference here" });
  expect((await sendBankEvent(quarantined)).status).toBe(200);
  const pendingPayoutId = await payout(merchant, customer.id, 10_000);
  const completedPayoutId = await payout(merchant, customer.id, 5_000);
  await drainPayoutQueue([completedPayoutId]);
  expect((await settle(completedPayoutId, "completed")).status).toBe(200);
  return {
    merchant,
    customerId: customer.id,
    creditedPaymentId,
    quarantinedPaymentId: await paymentIdOf(quarantined.data.bank_transaction_id),
    pendingPayoutId,
    completedPayoutId,
  };
}

const failing = (report: InvariantsReport) => Object.fromEntries(report.checks.filter((check) => !check.ok).map((check) => [check.name, check.detail]));

/**
 * Corrupts, checks that after a full pass exactly `red` fail (each detail containing its text),
 * restores, and checks that a later full pass is green.
 */
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

function run(sql: string, ...params: unknown[]) {
  return env.DB.prepare(sql)
    .bind(...params)
    .run();
}

/**
 * Ledger entries cannot be deleted (a trigger): to undo an entry a test inserted, drop the
 * trigger, delete it, take its amount back out of the account's cached column, and recreate
 * the trigger exactly as the migration wrote it.
 */
async function deleteEntry(entryId: string, accountId: string, column: string, amount: number): Promise<void> {
  const trigger = await env.DB.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'ledger_entry_undeletable'").first<{ sql: string }>();
  expect(trigger).not.toBeNull();
  await run("DROP TRIGGER ledger_entry_undeletable");
  try {
    await run("DELETE FROM ledger_entries WHERE id = ?", entryId);
    await run(`UPDATE ledger_accounts SET ${column} = ${column} - ? WHERE id = ?`, amount, accountId);
  } finally {
    await run(trigger!.sql);
  }
}

describe("GET /v1/admin/invariants against a corrupted book", () => {
  beforeAll(async () => {
    book = await buildBook();
    await expectInvariants();
  });

  it("a payment whose amount no longer matches its ledger transaction: payments_match_ledger", async () => {
    await expectCaught(
      () => run("UPDATE payments SET amount = amount + 1 WHERE id = ?", book.creditedPaymentId),
      () => run("UPDATE payments SET amount = amount - 1 WHERE id = ?", book.creditedPaymentId),
      { payments_match_ledger: `${book.creditedPaymentId}: lt_${book.creditedPaymentId} has Cr ${customerAccount(book.customerId, "ARS").id} 50000 / ` },
    );
  });

  it("a payment marked reversed with no reversal posted, or returned with no completed return: payments_match_ledger", async () => {
    await expectCaught(
      () => run("UPDATE payments SET status = 'reversed' WHERE id = ?", book.creditedPaymentId),
      () => run("UPDATE payments SET status = 'credited' WHERE id = ?", book.creditedPaymentId),
      { payments_match_ledger: `lt_reversal_${book.creditedPaymentId} is missing` },
    );
    await expectCaught(
      () => run("UPDATE payments SET status = 'returned' WHERE id = ?", book.quarantinedPaymentId),
      () => run("UPDATE payments SET status = 'quarantined' WHERE id = ?", book.quarantinedPaymentId),
      { payments_match_ledger: `${book.quarantinedPaymentId}: returned, but no return payout of it completed` },
    );
  });

  it("a quarantined payment rerouted to a customer in D1 alone: payments_match_ledger", async () => {
    await expectCaught(
      () => run("UPDATE payments SET status = 'credited', matched_by = 'customer_reference', customer_id = ?, merchant_id = ? WHERE id = ?", book.customerId, book.merchant.id, book.quarantinedPaymentId),
      () => run("UPDATE payments SET status = 'quarantined', matched_by = NULL, customer_id = NULL, merchant_id = NULL WHERE id = ?", book.quarantinedPaymentId),
      {
        payments_match_ledger:
          `${book.quarantinedPaymentId}: lt_${book.quarantinedPaymentId} has Cr la_suspense_ars 3000 / Dr la_settlement_ars 3000, ` +
          `expected Cr ${customerAccount(book.customerId, "ARS").id} 3000 / Cr ${merchantAccount(book.merchant.id, "ARS").id} 3000 / ` +
          "Dr la_attribution_ars 3000 / Dr la_settlement_ars 3000",
      },
    );
  });

  it("a payout marked completed without its ledger transaction posted: payouts_match_ledger", async () => {
    await expectCaught(
      () => run("UPDATE payouts SET status = 'completed' WHERE id = ?", book.pendingPayoutId),
      () => run("UPDATE payouts SET status = 'pending' WHERE id = ?", book.pendingPayoutId),
      { payouts_match_ledger: `${book.pendingPayoutId}: completed: lt_${book.pendingPayoutId} is pending, expected posted` },
    );
  });

  it("a payout whose amount differs from its ledger transaction, and a rejected payout that moved money", async () => {
    await expectCaught(
      () => run("UPDATE payouts SET amount = 1 WHERE id = ?", book.completedPayoutId),
      () => run("UPDATE payouts SET amount = 5000 WHERE id = ?", book.completedPayoutId),
      { payouts_match_ledger: `${book.completedPayoutId}: completed: lt_${book.completedPayoutId} has` },
    );
    await expectCaught(
      () => run("UPDATE payouts SET status = 'rejected' WHERE id = ?", book.pendingPayoutId),
      () => run("UPDATE payouts SET status = 'pending' WHERE id = ?", book.pendingPayoutId),
      {
        payouts_match_ledger: `${book.pendingPayoutId}: rejected, but lt_${book.pendingPayoutId} has 4 entries`,
        ledger_transactions_accounted: `lt_${book.pendingPayoutId}: names payout/${book.pendingPayoutId}`,
      },
    );
  });

  it("an extra entry inserted into an existing transaction: ledger_balanced, payments_match_ledger, liabilities_equal_settlement", async () => {
    const transactionId = `lt_${book.creditedPaymentId}`;
    const entryId = `${transactionId}:9`;
    const settlement = platformAccountId.settlement("ARS");
    await expectCaught(
      () =>
        run(
          "INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, created_at) VALUES (?, ?, ?, 'debit', 7, 'posted', ?)",
          entryId,
          transactionId,
          settlement,
          Date.now(),
        ),
      () => deleteEntry(entryId, settlement, "posted_debits", 7),
      {
        ledger_balanced: `${transactionId}: 5 entries, debits 100007, credits 100000`,
        payments_match_ledger: "Dr la_settlement_ars 50000 / Dr la_settlement_ars 7, expected",
        liabilities_equal_settlement: "ARS: settlement",
      },
    );
  });

  it("a balanced transaction that accounts for nothing (money conjured onto a merchant): ledger_transactions_accounted", async () => {
    const transactionId = "lt_forged_by_test";
    const merchant = merchantAccount(book.merchant.id, "ARS").id;
    // Settlement against a merchant: a pair that keeps both equations of the chart true, so only
    // the check that every transaction belongs to a live record can see it.
    const settlement = platformAccountId.settlement("ARS");
    await expectCaught(
      async () => {
        const now = Date.now();
        await env.DB.batch([
          env.DB.prepare(
            "INSERT INTO ledger_transactions (id, status, description, ledgerable_type, ledgerable_id, effective_at, created_at, updated_at) VALUES (?, 'posted', 'forged', 'payment', ?, ?, ?, ?)",
          ).bind(transactionId, book.creditedPaymentId, now, now, now),
          env.DB.prepare(
            `INSERT INTO ledger_entries (id, transaction_id, ledger_account_id, direction, amount, status, created_at) VALUES
               (?1 || ':0', ?1, ?2, 'debit', 1000, 'posted', ?4), (?1 || ':1', ?1, ?3, 'credit', 1000, 'posted', ?4)`,
          ).bind(transactionId, settlement, merchant, now),
        ]);
      },
      async () => {
        await deleteEntry(`${transactionId}:0`, settlement, "posted_debits", 1000);
        await deleteEntry(`${transactionId}:1`, merchant, "posted_credits", 1000);
        await run("DELETE FROM ledger_transactions WHERE id = ?", transactionId);
      },
      { ledger_transactions_accounted: `${transactionId}: names payment/${book.creditedPaymentId}, not a live record it belongs to` },
    );
  });

  it("a ledger account's cached balance moved without an entry: balances_equal_entries, customer_objects_equal_d1, customer_balances_equal_attribution", async () => {
    const account = customerAccount(book.customerId, "ARS").id;
    await expectCaught(
      () => run("UPDATE ledger_accounts SET posted_credits = posted_credits + 7 WHERE id = ?", account),
      () => run("UPDATE ledger_accounts SET posted_credits = posted_credits - 7 WHERE id = ?", account),
      {
        balances_equal_entries: `${account}: posted_credits 50007 ≠ entries 50000`,
        customer_objects_equal_d1: `${book.customerId} ARS: object 35000/10000, D1 35007/10000`,
        // A customer's balance is the memo side of the chart (docs/MONEY.md).
        customer_balances_equal_attribution: "ARS: customer balances",
      },
    );
  });

  // The chart of accounts (docs/MONEY.md): every balance account is real money, so a cached
  // balance moved without an entry breaks the settlement equation, and only it besides the cache
  // (a reserve's also breaks its own equation with its holds: reserve_balances_equal_holds).
  it.each([
    ["merchant", () => merchantAccount(book.merchant.id, "ARS").id, {}],
    ["reserve", () => reserveAccount(book.merchant.id, "ARS").id, { reserve_balances_equal_holds: "(difference +7)" }],
    ["platform", () => platformAccountId.platform("ARS"), {}],
  ] as const)("a %s balance account moved without an entry: balances_equal_entries, liabilities_equal_settlement", async (_kind, accountOf, alsoRed) => {
    const account = accountOf();
    await expectCaught(
      () => run("UPDATE ledger_accounts SET posted_credits = posted_credits + 7 WHERE id = ?", account),
      () => run("UPDATE ledger_accounts SET posted_credits = posted_credits - 7 WHERE id = ?", account),
      {
        balances_equal_entries: `${account}: posted_credits`,
        liabilities_equal_settlement: "ARS: settlement",
        ...alsoRed,
      },
    );
  });

  it("a customer object's balance moved without an entry: customer_objects_consistent, customer_objects_equal_d1", async () => {
    const stub = customerAccountStub(env, book.customerId);
    const shift = (delta: number) =>
      runInDurableObject(stub, (_instance, state) => state.storage.sql.exec("UPDATE balances SET available = available + ? WHERE currency = 'ARS'", delta));
    await expectCaught(
      () => shift(3),
      () => shift(-3),
      {
        customer_objects_consistent: `${book.customerId} (ARS: balance 35003/10000 ≠ entries 35000/10000)`,
        customer_objects_equal_d1: `${book.customerId} ARS: object 35003/10000, D1 35000/10000`,
      },
    );
  });
});

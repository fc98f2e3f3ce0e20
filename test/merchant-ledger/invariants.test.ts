/**
 * GET /v1/admin/invariants over merchants' own ledgers and incoming payment details (API §11):
 * green after linking, auto-ledgering, unlinked payments and reversals; and never green while
 * those books are wrong. Each test corrupts rows straight in D1 (with the append-only guards
 * of migrations/0012 lifted for the moment where it must), sees exactly the checks that must
 * notice go red, naming the row, restores, and sees everything green after a full pass.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { incomingPaymentDetails, type IncomingPaymentDetailRow } from "../../src/db/schema";
import { createMerchant } from "../helpers";
import { expectInvariants, invariantsAfterFullPass, type InvariantsReport } from "../money";
import { arrive, createLedgerAccount, db, linkedMerchant, reverse } from "./fixtures";

interface Book {
  wallets: string;
  cash: string;
  strangerAccount: string;
  posted: string;
  reversed: string;
  unposted: string;
}

let book: Book;

/** Runs `change` with these triggers dropped, then puts them back exactly as migrated. */
async function withoutTriggers(names: string[], change: () => Promise<unknown>): Promise<void> {
  const definitions: string[] = [];
  for (const name of names) {
    const row = await env.DB.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?").bind(name).first<{ sql: string }>();
    definitions.push(row!.sql);
    await env.DB.prepare(`DROP TRIGGER ${name}`).run();
  }
  try {
    await change();
  } finally {
    for (const sql of definitions) await env.DB.prepare(sql).run();
  }
}

const entryGuards = ["merchant_ledger_entry_immutable", "merchant_ledger_entry_undeletable"];
const detailGuards = ["incoming_payment_detail_immutable", "incoming_payment_detail_undeletable", "incoming_payment_detail_ledgered"];

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

async function detail(id: string): Promise<IncomingPaymentDetailRow> {
  return (await db().select().from(incomingPaymentDetails).where(eq(incomingPaymentDetails.id, id)).get())!;
}

beforeAll(async () => {
  const linked = await linkedMerchant();
  const stranger = await createMerchant();
  const posted = await arrive(linked.virtualAccountId, 10_000);
  const reversed = await arrive(linked.virtualAccountId, 2_500);
  await reverse(reversed);
  // Another merchant's virtual account, unlinked when its payment arrives: a detail with nothing posted.
  const { virtualAccountId: other } = await linkedMerchant();
  await env.DB.prepare("UPDATE virtual_accounts SET ledger_account_id = NULL WHERE id = ?").bind(other).run();
  const unposted = await arrive(other, 700);
  expect((await detail(`ipd_${unposted}`)).ledger_transaction_id).toBeNull();
  book = { wallets: linked.wallets.id, cash: linked.cash.id, strangerAccount: (await createLedgerAccount(stranger)).id, posted, reversed, unposted };
});

describe("invariants over merchants' ledgers and incoming payment details", () => {
  it("are green after linking, auto-ledgering, an unposted detail and a reversal, and report every new check", async () => {
    const report = await invariantsAfterFullPass();
    expect(failing(report)).toEqual({});
    for (const name of [
      "merchant_ledgers_balanced",
      "merchant_ledger_transactions_balanced",
      "merchant_ledger_transactions_accounted",
      "merchant_ledger_balances_equal_entries",
      "incoming_payment_details_match_payments",
      "incoming_payment_details_ledgered",
      "virtual_account_payments_detailed",
    ]) {
      expect(report.checks.find((check) => check.name === name)?.ok).toBe(true);
    }
  });

  it("a cached balance off its entries: balances_equal_entries and the merchant's ledger unbalanced", async () => {
    const shift = (delta: number) => env.DB.prepare("UPDATE merchant_ledger_accounts SET posted_credits = posted_credits + ? WHERE id = ?").bind(delta, book.wallets).run();
    await expectCaught(() => shift(1), () => shift(-1), {
      merchant_ledger_balances_equal_entries: `${book.wallets}: posted_debits 2500 (entries 2500), posted_credits 12501 (entries 12500)`,
      merchant_ledgers_balanced: "ARS: debits 15000 ≠ credits 15001",
    });
  });

  it("an entry's amount changed: the transaction unbalanced, not its detail's amount, and the account's cache off", async () => {
    const entry = `lt_ml_${book.posted}:0`;
    const shift = (delta: number) => withoutTriggers(entryGuards, () => env.DB.prepare("UPDATE merchant_ledger_entries SET amount = amount + ? WHERE id = ?").bind(delta, entry).run());
    await expectCaught(() => shift(5), () => shift(-5), {
      merchant_ledger_transactions_balanced: `lt_ml_${book.posted}: 2 entries, debits 10000, credits 10005`,
      merchant_ledger_transactions_accounted: `lt_ml_${book.posted}: amounts 10005/10000 for a detail of 10000`,
      merchant_ledger_balances_equal_entries: `${book.wallets}: posted_debits 2500 (entries 2500), posted_credits 12500 (entries 12505)`,
    });
  });

  it("both entries of a posting flipped (balanced, but the wrong way round): not the detail's direction", async () => {
    const flip = () =>
      withoutTriggers(entryGuards, () =>
        env.DB.prepare("UPDATE merchant_ledger_entries SET direction = CASE direction WHEN 'debit' THEN 'credit' ELSE 'debit' END WHERE transaction_id = ?")
          .bind(`lt_ml_${book.posted}`)
          .run(),
      );
    await expectCaught(flip, flip, {
      merchant_ledger_transactions_accounted: `lt_ml_${book.posted}: entries 2 (:0 debit, :1 credit) for a credit detail`,
      merchant_ledger_balances_equal_entries: book.wallets,
    });
  });

  it("a reversal posted to other accounts than its credit (balanced, each entry the right way): not the credit's mirror", async () => {
    const swap = () =>
      withoutTriggers(entryGuards, () =>
        env.DB.prepare(
          `UPDATE merchant_ledger_entries SET ledger_account_id = CASE ledger_account_id WHEN ?1 THEN ?2 ELSE ?1 END WHERE transaction_id = ?3`,
        )
          .bind(book.wallets, book.cash, `lt_ml_reversal_${book.reversed}`)
          .run(),
      );
    await expectCaught(swap, swap, {
      incoming_payment_details_ledgered: `ipd_reversal_${book.reversed}: its posting is not the mirror of lt_ml_${book.reversed}`,
      // The swap moved no cached balance; the mirror check is the one that names the reversal.
      merchant_ledger_balances_equal_entries: book.wallets,
    });
  });

  it("an entry moved into another merchant's account: the transaction is not in one ledger", async () => {
    const entry = `lt_ml_${book.posted}:1`;
    const move = (to: string) => withoutTriggers(entryGuards, () => env.DB.prepare("UPDATE merchant_ledger_entries SET ledger_account_id = ? WHERE id = ?").bind(to, entry).run());
    await expectCaught(() => move(book.strangerAccount), () => move(book.cash), {
      merchant_ledger_transactions_balanced: `lt_ml_${book.posted}: 2 entries, debits 10000, credits 10000, 1 outside`,
      merchant_ledger_balances_equal_entries: book.strangerAccount,
    });
  });

  it("a posted detail removed: its transaction ledgers nothing, and its payment lacks its detail", async () => {
    const saved = await detail(`ipd_${book.posted}`);
    await expectCaught(
      () => withoutTriggers(detailGuards, () => db().delete(incomingPaymentDetails).where(eq(incomingPaymentDetails.id, saved.id))),
      () => withoutTriggers(detailGuards, () => db().insert(incomingPaymentDetails).values(saved)),
      {
        merchant_ledger_transactions_accounted: `lt_ml_${book.posted}: names incoming_payment_detail/ipd_${book.posted}, not an incoming payment detail`,
        virtual_account_payments_detailed: `${book.posted} (quarantined, at `,
      },
    );
  });

  it("a detail's amount changed: it no longer matches its payment, nor its transaction", async () => {
    const set = (amount: number) =>
      withoutTriggers(detailGuards, () => db().update(incomingPaymentDetails).set({ amount }).where(eq(incomingPaymentDetails.id, `ipd_reversal_${book.reversed}`)));
    await expectCaught(() => set(2_600), () => set(2_500), {
      incoming_payment_details_match_payments: `ipd_reversal_${book.reversed}: 2600 ARS for a payment of 2500 ARS`,
      merchant_ledger_transactions_accounted: `lt_ml_reversal_${book.reversed}: amounts 2500/2500 for a detail of 2600`,
    });
  });

  it("an unposted detail that claims a transaction: it does not exist", async () => {
    const set = (id: string | null) =>
      withoutTriggers(detailGuards, () => db().update(incomingPaymentDetails).set({ ledger_transaction_id: id }).where(eq(incomingPaymentDetails.id, `ipd_${book.unposted}`)));
    await expectCaught(() => set(`lt_ml_${book.unposted}`), () => set(null), {
      incoming_payment_details_ledgered: `ipd_${book.unposted}: its transaction lt_ml_${book.unposted} does not exist`,
    });
  });

  it("a debit detail of a payment never reversed, and a payment at a virtual account with no credit detail", async () => {
    const original = await detail(`ipd_${book.unposted}`);
    const forged = { ...original, id: `ipd_reversal_${book.unposted}`, direction: "debit" as const };
    await expectCaught(
      () =>
        withoutTriggers(detailGuards, async () => {
          await db().delete(incomingPaymentDetails).where(eq(incomingPaymentDetails.id, original.id));
          await db().insert(incomingPaymentDetails).values(forged);
        }),
      () =>
        withoutTriggers(detailGuards, async () => {
          await db().delete(incomingPaymentDetails).where(eq(incomingPaymentDetails.id, forged.id));
          await db().insert(incomingPaymentDetails).values(original);
        }),
      {
        incoming_payment_details_match_payments: `ipd_reversal_${book.unposted}: a debit detail of a quarantined payment`,
        virtual_account_payments_detailed: `${book.unposted} (quarantined, at `,
      },
    );
  });
});

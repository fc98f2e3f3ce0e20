/**
 * Incoming payment details and auto-ledgering (API §11), written by the triggers of
 * migrations/0012 in the same write as the payment: exactly once per payment and direction,
 * posted only when both sides were linked at that moment, never backfilled.
 */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { incomingPaymentDetails, merchantLedgerTransactions, payments } from "../../src/db/schema";
import { api, bearer, createMerchant, json } from "../helpers";
import { arrive, createLedgerAccount, db, internalAccountsOf, linkedMerchant, linkVirtualAccount, newVirtualAccount, paymentRow, platformStatements, reverse } from "./fixtures";

async function detailsOf(paymentId: string) {
  return db().select().from(incomingPaymentDetails).where(eq(incomingPaymentDetails.payment_id, paymentId)).orderBy(incomingPaymentDetails.direction);
}

async function get(path: string, apiKey: string) {
  const response = await api(path, { headers: bearer(apiKey) });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

describe("incoming payment details", () => {
  it("a payment at a linked virtual account gets one credit detail and one balanced transaction: Cr the virtual account's ledger account, Dr the internal account's", async () => {
    const { merchant, wallets, cash, internal, virtualAccountId } = await linkedMerchant();
    const paymentId = await arrive(virtualAccountId, 150_000);

    const [detail] = await detailsOf(paymentId);
    expect(detail).toMatchObject({
      id: `ipd_${paymentId}`,
      direction: "credit",
      merchant_id: merchant.id,
      amount: 150_000,
      currency: "ARS",
      virtual_account_id: virtualAccountId,
      internal_account_id: internal.id,
      payment_id: paymentId,
      ledger_transaction_id: `lt_ml_${paymentId}`,
    });

    const shown = await get(`/v1/incoming-payment-details/${detail!.id}`, merchant.api_key);
    expect(shown.status).toBe(200);
    expect(shown.body).toEqual({
      id: detail!.id,
      direction: "credit",
      amount: 150_000,
      currency: "ARS",
      virtual_account_id: virtualAccountId,
      internal_account_id: internal.id,
      payment_id: paymentId,
      ledger_transaction_id: `lt_ml_${paymentId}`,
      created_at: new Date(detail!.created_at).toISOString(),
    });

    // The detail's ledger_transaction_id can be followed on the ledger routes.
    const transaction = await get(`/v1/ledger/transactions/${detail!.ledger_transaction_id}`, merchant.api_key);
    expect(transaction.status).toBe(200);
    expect(transaction.body).toMatchObject({
      id: `lt_ml_${paymentId}`,
      status: "posted",
      ledgerable_type: "incoming_payment_detail",
      ledgerable_id: detail!.id,
      entries: [
        { ledger_account_id: wallets.id, direction: "credit", amount: 150_000 },
        { ledger_account_id: cash.id, direction: "debit", amount: 150_000 },
      ],
    });
    expect((await get(`/v1/ledger/accounts/${wallets.id}`, merchant.api_key)).body.balances).toEqual({ posted: 150_000, pending: 150_000, available: 150_000 });
    expect((await get(`/v1/ledger/accounts/${cash.id}`, merchant.api_key)).body.balances).toEqual({ posted: 150_000, pending: 150_000, available: 150_000 });
    const entries = await get(`/v1/ledger/accounts/${wallets.id}/entries`, merchant.api_key);
    expect(entries.body.data).toEqual([
      expect.objectContaining({ id: `lt_ml_${paymentId}:0`, ledger_transaction_id: `lt_ml_${paymentId}`, direction: "credit", amount: 150_000, status: "posted" }),
    ]);

    // The events trigger of migrations/0010 still runs on the same insert.
    const event = await env.DB.prepare("SELECT type FROM events WHERE object_id = ?").bind(paymentId).first<{ type: string }>();
    expect(event?.type).toBe("payment.quarantined");
  });

  it("a bank reversal adds one debit detail and the mirror transaction; the balances return to zero", async () => {
    const { merchant, wallets, cash, virtualAccountId } = await linkedMerchant();
    const paymentId = await arrive(virtualAccountId, 42_00);
    await reverse(paymentId);

    const details = await detailsOf(paymentId);
    expect(details.map((detail) => [detail.id, detail.direction, detail.amount, detail.ledger_transaction_id])).toEqual([
      [`ipd_${paymentId}`, "credit", 42_00, `lt_ml_${paymentId}`],
      [`ipd_reversal_${paymentId}`, "debit", 42_00, `lt_ml_reversal_${paymentId}`],
    ]);
    const mirror = await get(`/v1/ledger/transactions/lt_ml_reversal_${paymentId}`, merchant.api_key);
    expect(mirror.body).toMatchObject({
      ledgerable_type: "incoming_payment_detail",
      ledgerable_id: `ipd_reversal_${paymentId}`,
      entries: [
        { ledger_account_id: wallets.id, direction: "debit", amount: 42_00 },
        { ledger_account_id: cash.id, direction: "credit", amount: 42_00 },
      ],
    });
    expect((await get(`/v1/ledger/accounts/${wallets.id}`, merchant.api_key)).body.balances.posted).toBe(0);
    expect((await get(`/v1/ledger/accounts/${cash.id}`, merchant.api_key)).body.balances.posted).toBe(0);
    const event = await env.DB.prepare("SELECT COUNT(*) AS count FROM events WHERE object_id = ? AND type = 'payment.reversed'").bind(paymentId).first<{ count: number }>();
    expect(event?.count).toBe(1);
  });

  it("exactly once: the same payment inserted again (strictly, ignored, or as an upsert) and reversed again makes no second detail or posting", async () => {
    const { wallets, virtualAccountId } = await linkedMerchant();
    const row = paymentRow(virtualAccountId, 700);
    const insert = db().insert(payments).values(row);
    await env.DB.batch([env.DB.prepare(insert.toSQL().sql).bind(...insert.toSQL().params), ...platformStatements(row.id, 700, "arrival")]);

    // A strict replay (the group commit's) fails whole; an ignored or upserted one (the one-by-one projection's) inserts nothing.
    await expect(db().insert(payments).values(row)).rejects.toThrow();
    await db().insert(payments).values(row).onConflictDoNothing();
    await env.DB.prepare(`INSERT OR IGNORE INTO payments (id, bank_transaction_id, status, amount, currency, booked_at, booked_date, virtual_account_id, created_at, updated_at)
      VALUES (?, ?, 'quarantined', 700, 'ARS', 0, '2026-01-01', ?, 0, 0)`).bind(row.id, row.bank_transaction_id, virtualAccountId).run(); // raw: OR IGNORE, as a legacy writer would
    await reverse(row.id);
    // A second reversal finds the payment reversed already: the trigger fires only on the change.
    await env.DB.prepare("UPDATE payments SET status = 'reversed', updated_at = updated_at + 1 WHERE id = ?").bind(row.id).run();

    expect((await detailsOf(row.id)).map((detail) => detail.direction)).toEqual(["credit", "debit"]);
    const transactions = await db().select().from(merchantLedgerTransactions).where(eq(merchantLedgerTransactions.merchant_id, (await detailsOf(row.id))[0]!.merchant_id));
    expect(transactions).toHaveLength(2);
    const balances = await env.DB.prepare("SELECT posted_debits, posted_credits FROM merchant_ledger_accounts WHERE id = ?").bind(wallets.id).first();
    expect(balances).toEqual({ posted_debits: 700, posted_credits: 700 });
  });

  it("a group commit's multi-row insert writes a detail (and a posting) for each of its rows", async () => {
    const { virtualAccountId } = await linkedMerchant();
    const other = await linkedMerchant();
    const rows = [paymentRow(virtualAccountId, 100), paymentRow(other.virtualAccountId, 200), paymentRow(null, 300), paymentRow(virtualAccountId, 400)];
    // Raw SQL: the shape of src/accounts/group-commit-statements.ts (one INSERT … SELECT over
    // json_each), which drizzle cannot express.
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO payments (id, bank_transaction_id, status, amount, currency, sender_cuit, sender_name, sender_cbu, concepto, matched_by,
           booked_at, booked_date, virtual_account_id, quarantine_reason, created_at, updated_at)
         SELECT p.value->>0, p.value->>1, p.value->>2, p.value->>3, p.value->>4, p.value->>5, p.value->>6, p.value->>7, p.value->>8, p.value->>9,
           p.value->>10, p.value->>11, p.value->>12, p.value->>13, p.value->>14, ?2
         FROM json_each(?1) AS p`,
      ).bind(JSON.stringify(rows.map((row) => [row.id, row.bank_transaction_id, row.status, row.amount, row.currency, row.sender_cuit, row.sender_name, row.sender_cbu,
        row.concepto, row.matched_by, row.booked_at, row.booked_date, row.virtual_account_id, row.quarantine_reason, row.created_at])), Date.now()),
      ...rows.flatMap((row) => platformStatements(row.id, row.amount, "arrival")),
    ]);
    for (const row of rows) {
      const details = await detailsOf(row.id);
      if (row.virtual_account_id === null) expect(details).toEqual([]);
      else expect(details).toEqual([expect.objectContaining({ amount: row.amount, virtual_account_id: row.virtual_account_id, ledger_transaction_id: `lt_ml_${row.id}` })]);
    }
    const events = await env.DB.prepare(`SELECT COUNT(*) AS count FROM events WHERE object_id IN (${rows.map(() => "?").join(",")})`).bind(...rows.map((row) => row.id)).first<{ count: number }>();
    expect(events?.count).toBe(4);
  });

  it("posts nothing unless both sides are linked when the detail is written, and linking later does not backfill", async () => {
    const merchant = await createMerchant();
    const wallets = await createLedgerAccount(merchant, { name: "Wallets" });
    const cash = await createLedgerAccount(merchant, { name: "Cash", normal_balance: "debit" });
    const virtualAccountId = await newVirtualAccount(merchant);

    // Neither linked (and the internal account not even opened yet: the payment opens it).
    const neither = await arrive(virtualAccountId, 100);
    const [first] = await detailsOf(neither);
    expect(first).toMatchObject({ ledger_transaction_id: null, internal_account_id: (await internalAccountsOf(merchant))[0]!.id });

    // Only the virtual account linked.
    await linkVirtualAccount(virtualAccountId, wallets.id);
    const onlyVirtual = await arrive(virtualAccountId, 200);
    expect((await detailsOf(onlyVirtual))[0]!.ledger_transaction_id).toBeNull();

    // Only the internal account linked.
    const [internal] = await internalAccountsOf(merchant);
    await linkVirtualAccount(virtualAccountId, null);
    const patch = await api(`/v1/internal-accounts/${internal!.id}`, { ...json({ ledger_account_id: cash.id }, bearer(merchant.api_key)), method: "PATCH" });
    expect(patch.status).toBe(200);
    const onlyInternal = await arrive(virtualAccountId, 300);
    expect((await detailsOf(onlyInternal))[0]!.ledger_transaction_id).toBeNull();

    // Both linked now: the next payment posts, the earlier ones stay unposted, and their
    // reversals post their own debit (the link at reversal time decides).
    await linkVirtualAccount(virtualAccountId, wallets.id);
    const both = await arrive(virtualAccountId, 400);
    expect((await detailsOf(both))[0]!.ledger_transaction_id).toBe(`lt_ml_${both}`);
    for (const paymentId of [neither, onlyVirtual, onlyInternal]) {
      expect((await detailsOf(paymentId))[0]!.ledger_transaction_id).toBeNull();
      expect((await get(`/v1/ledger/transactions/lt_ml_${paymentId}`, merchant.api_key)).status).toBe(404);
    }
    expect((await get(`/v1/ledger/accounts/${wallets.id}`, merchant.api_key)).body.balances.posted).toBe(400);
    expect((await get(`/v1/ledger/accounts/${cash.id}`, merchant.api_key)).body.balances.posted).toBe(400);
  });

  it("a link to an account of another currency or another merchant's ledger never posts (defence in depth behind assertLinkable)", async () => {
    const { merchant, virtualAccountId } = await linkedMerchant();
    const stranger = await createMerchant();
    const theirs = await createLedgerAccount(stranger);
    await linkVirtualAccount(virtualAccountId, theirs.id); // written straight to D1: the API refuses it
    const paymentId = await arrive(virtualAccountId, 500);
    expect((await detailsOf(paymentId))[0]).toMatchObject({ merchant_id: merchant.id, ledger_transaction_id: null });
    expect((await get(`/v1/ledger/accounts/${theirs.id}`, stranger.api_key)).body.balances.posted).toBe(0);
  });
});

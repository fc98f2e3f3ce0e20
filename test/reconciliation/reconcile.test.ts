import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { armFault, disarmFaults } from "../../src/faults";
import { reconciliationLimits } from "../../src/limits";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders } from "../helpers";
import {
  balanceOf,
  depositReference,
  drainGroupCommit,
  drainPayoutQueue,
  expectInvariants,
  finishReconciliation,
  fundedCustomer,
  merchantBalance,
  objectBalance,
  ownSender,
  postPayout,
  reconcile,
  sendBankEvent,
  settle,
  today,
  transferEvent,
  uniqueId,
} from "../money";

afterEach(() => disarmFaults());

async function sandboxTransfer(body: Record<string, unknown>, options: { drain?: boolean } = {}) {
  const response = await api("/v1/sandbox/transfers", json(body, operatorHeaders()));
  if (options.drain !== false) await drainGroupCommit();
  expect(response.status).toBe(201);
  return (await response.json()) as { transfer: { bank_transaction_id: string }; deliveries: { status: number }[] };
}

const discrepancyOf = (report: { discrepancies: { id: string; bank_transaction_id: string }[] }, bankTransactionId: string) =>
  report.discrepancies.filter((item) => item.bank_transaction_id === bankTransactionId);

describe("reconciling a day against the sandbox bank's statement", () => {
  it("finds a dropped webhook, recovers it by routing it like the lost webhook, and a rerun changes nothing", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const dropped = await sandboxTransfer({ amount: 77_700, sender: { cuit: null, name: "Lost", cbu: null }, concepto: reference, deliver: "none" });
    expect(await objectBalance(customer.id)).toMatchObject({ available: 0 }); // no payment yet: only the object tells

    const { report } = await reconcile(today());
    expect(report.status).toBe("completed");
    expect(discrepancyOf(report, dropped.transfer.bank_transaction_id)).toEqual([
      expect.objectContaining({ kind: "missing_in_ledger", resolution: "recovered", bank_amount: 77_700 }),
    ]);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 77_700 });
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 77_700 });
    const payments = (await (await api("/v1/payments", { headers: bearer(merchant.api_key) })).json()) as { data: { matched_by: string }[] };
    expect(payments.data).toEqual([expect.objectContaining({ matched_by: "customer_reference" })]);
    await expectInvariants();

    const again = await reconcile(today());
    expect(discrepancyOf(again.report, dropped.transfer.bank_transaction_id)).toEqual([]);
    expect(again.report.totals.missing_in_ledger).toBe(0);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 77_700 });
    await expectInvariants();
  });

  it("counts a cash-in acknowledged but not yet in D1 (its group commit in flight) as matched, not as a lost webhook", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    // The delivery is answered 200 by the customer's object; its group commit dies, so D1
    // lacks the payment when the statement is read, as it would for the moment of a commit.
    armFault("groupcommit.inside_batch");
    const delivered = await sandboxTransfer({ amount: 31_400, sender: { cuit: null, name: "Fast", cbu: null }, concepto: reference, deliver: "once" });
    expect(delivered.deliveries[0]!.status).toBe(200);
    await drainGroupCommit();
    expect(await objectBalance(customer.id)).toMatchObject({ available: 31_400 });
    const missing = await env.DB.prepare("SELECT COUNT(*) AS n FROM payments WHERE bank_transaction_id = ?").bind(delivered.transfer.bank_transaction_id).first<{ n: number }>();
    expect(missing!.n).toBe(0);

    const { report } = await reconcile(today());
    expect(discrepancyOf(report, delivered.transfer.bank_transaction_id)).toEqual([]);
    expect(await merchantBalance(merchant.api_key)).toMatchObject({ available: 31_400 });
    expect(await objectBalance(customer.id)).toMatchObject({ available: 31_400 });
    await expectInvariants();
  });

  it("matches delivered transfers and completed payouts, and flags mismatches and what the bank never saw", async () => {
    const { merchant, customer } = await fundedCustomer(0);
    const reference = await depositReference(merchant.api_key, customer.id);
    // From the customer's own account, so that the payout below may go back to it (API §7).
    const delivered = await sandboxTransfer({ amount: 50_000, sender: await ownSender(customer.id), concepto: reference, deliver: "once" });
    expect(delivered.deliveries[0]!.status).toBe(200);

    // A webhook the bank never booked (forged or buggy): in our ledger, not on the statement.
    const phantom = transferEvent({ amount: 1_000, concepto: reference });
    expect((await sendBankEvent(phantom)).status).toBe(200);

    // The bank booked one amount, the webhook said another.
    const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
    const line = await bank.bookTransfer({ amount: 9_000, currency: "ARS", sender: { cuit: null, name: "M", cbu: null }, account_number: null, concepto: reference });
    expect((await sendBankEvent(transferEvent({ amount: 9_900, concepto: reference, bank_transaction_id: line.bank_transaction_id }))).status).toBe(200);

    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 20_000 })).json()) as { id: string };
    await drainPayoutQueue([payout.id]);
    expect((await settle(payout.id, "completed")).status).toBe(200);
    const completed = (await (await api(`/v1/payouts/${payout.id}`, { headers: bearer(merchant.api_key) })).json()) as { bank_transaction_id: string };

    const { report } = await reconcile(today());
    expect(discrepancyOf(report, delivered.transfer.bank_transaction_id)).toEqual([]);
    expect(discrepancyOf(report, completed.bank_transaction_id)).toEqual([]);
    expect(discrepancyOf(report, phantom.data.bank_transaction_id)).toEqual([
      expect.objectContaining({ kind: "missing_at_bank", resolution: "open", ledger_amount: 1_000, bank_amount: null }),
    ]);
    expect(discrepancyOf(report, line.bank_transaction_id)).toEqual([
      expect.objectContaining({ kind: "amount_mismatch", resolution: "open", ledger_amount: 9_900, bank_amount: 9_000 }),
    ]);
    expect(report.totals.matched).toBeGreaterThanOrEqual(2);
    await expectInvariants();

    // The operator closes a flagged discrepancy with a note; closing it again is a no-op.
    const [flag] = discrepancyOf(report, phantom.data.bank_transaction_id);
    const path = `/v1/admin/reconciliations/${report.id}/discrepancies/${flag!.id}/resolve`;
    const resolved = await api(path, json({ note: "bank confirmed a duplicate notification; refunded" }, operatorHeaders()));
    expect(resolved.status).toBe(200);
    expect(await resolved.json()).toMatchObject({ resolution: "resolved", note: "bank confirmed a duplicate notification; refunded" });
    expect((await api(path, json({ note: "bank confirmed a duplicate notification; refunded" }, operatorHeaders()))).status).toBe(200);
    expect((await api(path, json({ note: "something else" }, operatorHeaders()))).status).toBe(422);
  });

  it("recovers a completed payout whose payout.completed webhook was lost", async () => {
    const { merchant, customer } = await fundedCustomer(30_000);
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).json()) as { id: string };
    await drainPayoutQueue([payout.id]);
    const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
    const settled = await bank.settlePayout(payout.id, "completed", true); // the bank paid; no event reaches us
    expect(settled.ok).toBe(true);
    const { report } = await reconcile(today());
    expect(discrepancyOf(report, (settled as { bank_transaction_id: string }).bank_transaction_id)).toEqual([
      expect.objectContaining({ kind: "missing_in_ledger", direction: "debit", resolution: "recovered", record_id: payout.id }),
    ]);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 20_000, reserved: 0 });
    await expectInvariants();
  });

  it("flags a completed payout the bank's statement never showed as missing at the bank, never fixing it", async () => {
    const { merchant, customer } = await fundedCustomer(30_000);
    const payout = (await (await postPayout(merchant.api_key, { customer_id: customer.id, amount: 10_000 })).json()) as { id: string };
    await drainPayoutQueue([payout.id]);
    // A payout.completed the bank never booked (forged or buggy): completed here, absent from the statement.
    const forged = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: payout.id, bank_transaction_id: uniqueId("bt") } };
    expect((await sendBankEvent(forged)).status).toBe(200);
    const { report } = await reconcile(today());
    expect(discrepancyOf(report, forged.data.bank_transaction_id)).toEqual([
      expect.objectContaining({ kind: "missing_at_bank", direction: "debit", resolution: "open", ledger_amount: 10_000, bank_amount: null, record_id: payout.id }),
    ]);
  });

  it("resumes a run that crashed halfway without counting or crediting anything twice", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const reference = await depositReference(merchant.api_key, customer.id);
    const lost = await sandboxTransfer({ amount: 4_321, sender: { cuit: null, name: "Crash", cbu: null }, concepto: reference, deliver: "none" });
    const started = await api("/v1/admin/reconciliations", json({ date: today() }, operatorHeaders()));
    const { id } = (await started.json()) as { id: string };
    armFault("reconciliation.before_commit");
    await expect(finishReconciliation(id, 1)).rejects.toThrow(/injected fault/);
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 4_321 }); // recovered before the crash
    const report = await finishReconciliation(id);
    expect(report.status).toBe("completed");
    expect(discrepancyOf(report, lost.transfer.bank_transaction_id)).toHaveLength(1);
    const lines = (await (await api(`/v1/sandbox/statement?date=${today()}&limit=1000`, { headers: operatorHeaders() })).json()) as { data: unknown[] };
    expect(report.totals.statement_lines).toBe(lines.data.length); // every line counted exactly once
    expect(await balanceOf(merchant.api_key, customer.id)).toMatchObject({ available: 4_321 });
    await expectInvariants();
  });

  it("validates the date and is operator-only", async () => {
    for (const date of ["2026-13-01", "yesterday", "2026-02-30"]) {
      const response = await api("/v1/admin/reconciliations", json({ date }, operatorHeaders()));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ errors: [expect.objectContaining({ path: "date" })] }); // one message per field
    }
    const merchant = await createMerchant();
    expect((await api("/v1/admin/reconciliations", json({ date: today() }, bearer(merchant.api_key)))).status).toBe(403);
    expect((await api("/v1/admin/reconciliations/rec_nope", { headers: operatorHeaders() })).status).toBe(404);
  });
});

describe("a large day", () => {
  it("reconciles ten thousand statement lines across many bounded steps", async () => {
    const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
    const date = "2026-03-02";
    const bookedAt = Date.parse("2026-03-02T15:00:00Z"); // 12:00 in Buenos Aires
    const total = 10_500; // more than one ledger window (limits.ledger_window_rows) and many statement pages
    const lines = Array.from({ length: total }, (_, index) => ({
      bank_transaction_id: `bt_large_${index}`,
      amount: 1_000 + index,
      currency: "ARS",
      sender: { cuit: null, name: `Sender ${index}`, cbu: null },
      account_number: null,
      concepto: "sin referencia", // routes to quarantine if it has to be recovered
      booked_at_ms: bookedAt,
    }));
    for (let start = 0; start < total; start += 500) expect(await bank.seedStatement(lines.slice(start, start + 500))).toBe(500);
    // Our side already holds all of them but five (dropped webhooks), with one wrong amount, plus two the bank never booked.
    const ours = lines.slice(5).map((line, index) => ({ ...line, amount: index === 0 ? line.amount + 1 : line.amount }));
    ours.push({ ...lines[0]!, bank_transaction_id: "bt_large_phantom_1" }, { ...lines[1]!, bank_transaction_id: "bt_large_phantom_2" });
    for (let start = 0; start < ours.length; start += 100) {
      await env.DB.batch(
        ours.slice(start, start + 100).map((line) =>
          env.DB.prepare(
            `INSERT INTO payments (id, bank_transaction_id, status, amount, currency, booked_at, booked_date, created_at, updated_at)
             VALUES (?, ?, 'quarantined', ?, 'ARS', ?, ?, ?, ?)`,
          ).bind(`pay_${line.bank_transaction_id}`, line.bank_transaction_id, line.amount, bookedAt, date, bookedAt, bookedAt),
        ),
      );
    }

    const { report, maxQueries } = await reconcile(date);
    expect(report.status).toBe("completed");
    expect(report.totals).toEqual({ statement_lines: total, matched: total - 6, missing_in_ledger: 5, missing_at_bank: 2, amount_mismatch: 1 });
    expect(report.steps).toBeGreaterThan(total / reconciliationLimits.statement_page_lines); // a page at a time, never the whole day at once
    expect(maxQueries).toBeLessThanOrEqual(400);
    expect(report.discrepancies.filter((item) => item.kind === "missing_in_ledger").every((item) => item.resolution === "recovered")).toBe(true);
  });
});

/**
 * The paginated lists that had no test of their filters together with their cursor: payments,
 * payouts (a merchant's and a customer's), events, bank events, quarantine, reconciliation runs
 * and a run's discrepancies. For each, walking the list a page of one at a time with next_cursor
 * gives exactly the rows, in the same order, as one large page; the filter keeps only its rows;
 * and the rows this file created are there. Other test files may share the database: a check
 * never assumes that the rows it made are the only ones, except in lists filtered to them.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { reconciliationDiscrepancies } from "../../src/db/schema";
import { startRun } from "../../src/reconciliation/runs";
import { api, bearer, createCustomer, createMerchant, operatorHeaders, randomCbu, type TestCustomer, type TestMerchant } from "../helpers";
import { fund, postPayout, sendBankEvent, transferEvent, uniqueId } from "../money";

interface Item {
  id: string;
  [field: string]: unknown;
}
interface Page {
  data: Item[];
  has_more: boolean;
  next_cursor: string | null;
}

async function page(path: string, headers: Record<string, string>): Promise<Page> {
  const response = await api(path, { headers });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as Page;
}

const withQuery = (path: string, query: string) => `${path}${path.includes("?") ? "&" : "?"}${query}`;

/**
 * Walks `path` one row a page, following next_cursor, and checks it against one page of up to
 * 100 rows: the same rows in the same order (the first 100, when the list is longer). Answers them.
 */
async function walk(path: string, headers: Record<string, string>): Promise<Item[]> {
  const whole = await page(withQuery(path, "limit=100"), headers);
  const walked: Item[] = [];
  let cursor: string | null = null;
  do {
    const next: Page = await page(withQuery(path, `limit=1${cursor ? `&cursor=${cursor}` : ""}`), headers);
    expect(next.data.length).toBeLessThanOrEqual(1);
    expect(next.has_more).toBe(next.next_cursor !== null);
    walked.push(...next.data);
    cursor = next.next_cursor;
  } while (cursor !== null && walked.length < whole.data.length);
  expect(walked).toEqual(whole.data);
  if (!whole.has_more) expect(cursor).toBeNull();
  return walked;
}

const ids = (items: Item[]) => items.map((item) => item.id);

describe("paginated lists: filters and cursors", () => {
  let merchant: TestMerchant;
  let customer: TestCustomer;
  let other: TestCustomer;
  const payments: string[] = [];
  const otherPayments: string[] = [];
  const payouts: string[] = [];
  const otherPayouts: string[] = [];
  const bankEventIds: string[] = [];
  let quarantinedId: string;
  let runIds: string[];

  beforeAll(async () => {
    merchant = await createMerchant("Pagination");
    customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    other = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    for (const amount of [10_000, 20_000, 30_000]) payments.push(await fund(merchant, customer.id, amount));
    otherPayments.push(await fund(merchant, other.id, 40_000));
    for (const [who, into] of [
      [customer, payouts],
      [customer, payouts],
      [other, otherPayouts],
    ] as const) {
      const response = await postPayout(merchant.api_key, { customer_id: who.id, amount: 1_000, currency: "ARS" });
      expect(response.status).toBe(201);
      into.push(((await response.json()) as Item).id);
    }
    const unmatched = transferEvent({ amount: 5_000, concepto: "sin referencia" });
    expect((await sendBankEvent(unmatched)).status).toBe(200);
    bankEventIds.push(unmatched.id);
    const quarantine = await page("/v1/admin/quarantine?limit=100", operatorHeaders());
    quarantinedId = quarantine.data.find((item) => item.bank_transaction_id === unmatched.data.bank_transaction_id)!.id;
    runIds = [];
    for (const date of ["2025-02-03", "2025-02-03", "2025-02-04"]) runIds.push((await startRun(env, date, "operator")).id);
  });

  it("a merchant's payments: all its customers', by status", async () => {
    const headers = bearer(merchant.api_key);
    expect(ids(await walk("/v1/payments", headers)).sort()).toEqual([...payments, ...otherPayments].sort());
    expect(ids(await walk("/v1/payments?status=credited", headers)).sort()).toEqual([...payments, ...otherPayments].sort());
    expect(await walk("/v1/payments?status=quarantined", headers)).toEqual([]);
  });

  it("a customer's payments: only that customer's, by status", async () => {
    const headers = bearer(merchant.api_key);
    expect(ids(await walk(`/v1/customers/${customer.id}/payments`, headers)).sort()).toEqual([...payments].sort());
    expect(ids(await walk(`/v1/customers/${other.id}/payments?status=credited`, headers))).toEqual(otherPayments);
    expect(await walk(`/v1/customers/${customer.id}/payments?status=reversed`, headers)).toEqual([]);
  });

  it("a merchant's payouts and a customer's, by status", async () => {
    const headers = bearer(merchant.api_key);
    expect(ids(await walk("/v1/payouts", headers)).sort()).toEqual([...payouts, ...otherPayouts].sort());
    expect(ids(await walk("/v1/payouts?status=pending", headers)).sort()).toEqual([...payouts, ...otherPayouts].sort());
    expect(await walk("/v1/payouts?status=completed", headers)).toEqual([]);
    expect(ids(await walk(`/v1/customers/${customer.id}/payouts`, headers)).sort()).toEqual([...payouts].sort());
    expect(ids(await walk(`/v1/customers/${other.id}/payouts?status=pending`, headers))).toEqual(otherPayouts);
    expect(await walk(`/v1/customers/${other.id}/payouts?status=failed`, headers)).toEqual([]);
  });

  it("events: a merchant's own, by type; the operator's by merchant", async () => {
    const own = await walk("/v1/events", bearer(merchant.api_key));
    const credited = await walk("/v1/events?type=payment.credited", bearer(merchant.api_key));
    expect(credited.every((event) => event.type === "payment.credited")).toBe(true);
    expect(credited.map((event) => (event.data as { object: { id: string } }).object.id).sort()).toEqual([...payments, ...otherPayments].sort());
    expect(ids(own)).toEqual(expect.arrayContaining(ids(credited)));
    expect(ids(await walk(`/v1/events?merchant_id=${merchant.id}`, operatorHeaders()))).toEqual(ids(own));
    expect(ids(await walk(`/v1/events?merchant_id=${merchant.id}&type=payment.credited`, operatorHeaders()))).toEqual(ids(credited));
    expect(await walk(`/v1/events?merchant_id=${uniqueId("mer")}`, operatorHeaders())).toEqual([]);
  });

  it("bank events, by status", async () => {
    const processed = await walk("/v1/admin/bank-events?status=processed", operatorHeaders());
    expect(processed.every((event) => event.status === "processed")).toBe(true);
    expect(ids(processed)).toEqual(expect.arrayContaining(bankEventIds));
    const failed = await walk("/v1/admin/bank-events?status=failed", operatorHeaders());
    expect(failed.every((event) => event.status === "failed")).toBe(true);
    await walk("/v1/admin/bank-events", operatorHeaders());
  });

  it("the quarantine: quarantined payments only", async () => {
    const held = await walk("/v1/admin/quarantine", operatorHeaders());
    expect(held.every((payment) => payment.status === "quarantined")).toBe(true);
    expect(ids(held)).toContain(quarantinedId);
    expect(ids(held)).not.toContain(payments[0]);
  });

  it("reconciliation runs, by date, and a run's discrepancies", async () => {
    const onThe3rd = await walk("/v1/admin/reconciliations?date=2025-02-03", operatorHeaders());
    expect(onThe3rd.every((run) => run.date === "2025-02-03")).toBe(true);
    expect(ids(onThe3rd)).toEqual(expect.arrayContaining(runIds.slice(0, 2)));
    expect(ids(onThe3rd)).not.toContain(runIds[2]);
    expect(ids(await walk("/v1/admin/reconciliations", operatorHeaders()))).toEqual(expect.arrayContaining(runIds));

    // Three discrepancies, two sharing created_at: the id breaks the tie across pages.
    const [run, otherRun] = runIds as [string, string, string];
    const at = Date.now();
    const prefix = uniqueId("dis");
    const discrepancy = (id: string, runId: string, createdAt: number) => ({
      id,
      run_id: runId,
      kind: "missing_at_bank" as const,
      bank_transaction_id: uniqueId("bt"),
      direction: "credit" as const,
      resolution: "open" as const,
      created_at: createdAt,
    });
    await database(env.DB)
      .insert(reconciliationDiscrepancies)
      .values([
        discrepancy(`${prefix}_a`, run, at),
        discrepancy(`${prefix}_b`, run, at),
        discrepancy(`${prefix}_c`, run, at - 1),
        discrepancy(`${prefix}_d`, otherRun, at),
      ]);
    const listed = await walk(`/v1/admin/reconciliations/${run}/discrepancies`, operatorHeaders());
    expect(ids(listed)).toEqual([`${prefix}_b`, `${prefix}_a`, `${prefix}_c`]);
  });
});

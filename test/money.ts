/**
 * Helpers for tests that move money: signed bank events, funding a customer through its
 * reference, payouts, and the invariants proof.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { businessDateOf } from "../src/domain/business-day";
import { loadConfig } from "../src/env";
import worker from "../src/index";
import { reconciliationStep } from "../src/reconciliation/step";
import type { PayoutMessage } from "../src/jobs/payout-queue";
import { expect } from "vitest";
import { customerAccountStub } from "../src/accounts/customer-account";
import { groupCommit } from "../src/accounts/group-commit";
import { signatureHeader } from "../src/bank/signature";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit, type TestMerchant } from "./helpers";

let sequence = 0;
export function uniqueId(prefix: string): string {
  sequence += 1;
  return `${prefix}_${Date.now().toString(36)}_${sequence}_${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Delivers a signed bank event. A cash-in answers once the customer's object has it, and D1
 * follows in the next group commit: by default this waits for that commit too, so that a test
 * reads D1 as it will be a moment later; `{ drain: false }` leaves D1 trailing (tests of the
 * pipeline itself).
 */
export async function sendBankEvent(event: unknown, options: { secret?: string; timestamp_ms?: number; header?: string; drain?: boolean } = {}): Promise<Response> {
  const body = typeof event === "string" ? event : JSON.stringify(event);
  const header = options.header ?? (await signatureHeader(body, options.secret ?? env.BANK_WEBHOOK_SECRET!, options.timestamp_ms));
  const response = await api("/v1/bank/events", { method: "POST", headers: { "content-type": "application/json", "bank-signature": header }, body });
  if (options.drain !== false) await drainGroupCommit();
  return response;
}

/** Writes every cash-in waiting for a group commit in this isolate (the Worker's, in tests). */
export async function drainGroupCommit(): Promise<void> {
  await groupCommit.drain();
}

export interface TransferOptions {
  amount: number;
  concepto?: string | null;
  sender?: { cuit?: string | null; name?: string | null; cbu?: string | null };
  bank_transaction_id?: string;
  event_id?: string;
  currency?: string;
  account_number?: string | null;
}

export function transferEvent(options: TransferOptions) {
  return {
    id: options.event_id ?? uniqueId("evt"),
    type: "transfer.received",
    created_at: new Date().toISOString(),
    data: {
      bank_transaction_id: options.bank_transaction_id ?? uniqueId("bt"),
      amount: options.amount,
      currency: options.currency ?? "ARS",
      sender: options.sender ?? { cuit: randomCuit(), name: "Sender", cbu: randomCbu() },
      destination: { account_number: options.account_number ?? null },
      concepto: options.concepto ?? null,
      booked_at: new Date().toISOString(),
    },
  };
}

export async function depositReference(apiKey: string, customerId: string): Promise<string> {
  const response = await api(`/v1/customers/${customerId}/deposit-details`, { headers: bearer(apiKey) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { reference: string }).reference;
}

/**
 * The customer as the sender of its own transfer: its CUIT and its CBU on file (any CBU when
 * it has none). A payout may go only to an account the customer has transferred from (API §7),
 * so money funded this way can be paid out to the customer's CBU.
 */
export async function ownSender(customerId: string): Promise<{ cuit: string; name: string; cbu: string }> {
  const customer = await env.DB.prepare("SELECT cuit, name, cbu FROM customers WHERE id = ?").bind(customerId).first<{ cuit: string; name: string; cbu: string | null }>();
  expect(customer).not.toBeNull();
  return { cuit: customer!.cuit, name: customer!.name, cbu: customer!.cbu ?? randomCbu() };
}

/** Cash-in to a customer through its reference for `merchant`, sent from the customer's own account; returns the payment id. */
export async function fund(merchant: TestMerchant, customerId: string, amount: number): Promise<string> {
  const reference = await depositReference(merchant.api_key, customerId);
  const event = transferEvent({ amount, concepto: `pago ${reference}`, sender: await ownSender(customerId) });
  const response = await sendBankEvent(event);
  expect(response.status).toBe(200);
  const payments = await api(`/v1/customers/${customerId}/payments?limit=1`, { headers: bearer(merchant.api_key) });
  const page = (await payments.json()) as { data: { id: string; bank_transaction_id: string }[] };
  const payment = page.data.find((candidate) => candidate.bank_transaction_id === event.data.bank_transaction_id);
  expect(payment).toBeDefined();
  return payment!.id;
}

/** A merchant with one customer holding `amount` (both balances), with a CBU for payouts (the one `fund` sent from). */
export async function fundedCustomer(amount: number) {
  const merchant = await createMerchant();
  const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
  if (amount > 0) await fund(merchant, customer.id, amount);
  return { merchant, customer };
}

export async function balanceOf(apiKey: string, customerId: string) {
  const response = await api(`/v1/customers/${customerId}/balance`, { headers: bearer(apiKey) });
  expect(response.status).toBe(200);
  return (await response.json()) as { available: number; reserved: number };
}

/**
 * The customer's balance in its object, whoever may see it: for moments when no merchant may
 * yet (a credit durable in the object but not yet recorded in D1 is no payment with anyone).
 */
export async function objectBalance(customerId: string, currency = "ARS") {
  const balance = await customerAccountStub(env, customerId).balance(currency);
  return { available: balance.available, reserved: balance.reserved };
}

export async function merchantBalance(apiKey: string) {
  const response = await api("/v1/merchant/balance", { headers: bearer(apiKey) });
  expect(response.status).toBe(200);
  return (await response.json()) as { available: number; reserved: number };
}

export function postPayout(apiKey: string, body: Record<string, unknown>, key: string | null = uniqueId("idem")): Promise<Response> {
  return api("/v1/payouts", json(body, { ...bearer(apiKey), ...(key === null ? {} : { "idempotency-key": key }) }));
}

export async function settle(payoutId: string, outcome: "completed" | "failed", permanent = true) {
  const response = await api(`/v1/sandbox/payouts/${payoutId}/settle`, json({ outcome, permanent }, operatorHeaders()));
  return { status: response.status, body: (await response.json()) as { delivery: { status: number } } };
}

/**
 * Runs a customer's object's projection replay now, as its alarm would once the grace
 * period has passed (the alarm itself only replays rows older than the grace period).
 */
export async function runAccountAlarm(customerId: string): Promise<boolean> {
  await customerAccountStub(env, customerId).flushProjections();
  return true;
}

export interface InvariantCheck {
  name: string;
  ok: boolean;
  detail: string;
  coverage?: {
    unit: string;
    pass: { started_at: string; checked: number; total: number; total_is_lower_bound: boolean; complete: boolean; failures: number };
    last_complete_pass: { started_at: string; ended_at: string; checked: number; failures: number } | null;
  };
}
export interface InvariantsReport {
  ok: boolean;
  checks: InvariantCheck[];
}

export async function getInvariants(): Promise<InvariantsReport> {
  const response = await api("/v1/admin/invariants", { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return (await response.json()) as InvariantsReport;
}

/** A swept check's last complete pass started at or after `since`: it saw every row there was then. */
export function coveredSince(check: InvariantCheck, since: number): boolean {
  const last = check.coverage?.last_complete_pass;
  return !check.coverage || (last != null && Date.parse(last.started_at) >= since);
}

/**
 * The invariants report on the books as they are now: calls the endpoint until every sweep has
 * completed a pass that started after this was called (a bounded number of calls).
 */
export async function invariantsAfterFullPass(maxCalls = 50): Promise<InvariantsReport & { calls: number }> {
  const since = Date.now();
  for (let call = 1; call <= maxCalls; call++) {
    const report = await getInvariants();
    if (report.checks.every((check) => coveredSince(check, since))) return { ...report, calls: call };
  }
  throw new Error(`the invariants did not complete a pass of every sweep within ${maxCalls} calls`);
}

/** Every invariant holds for the books as they are now (see invariantsAfterFullPass). Returns the calls it took. */
export async function expectInvariants(maxCalls = 50): Promise<number> {
  await drainGroupCommit();
  const report = await invariantsAfterFullPass(maxCalls);
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.ok).toBe(true);
  return report.calls;
}

/** Delivers the payout queue's messages for these payouts, as the queue would. */
export async function drainPayoutQueue(payoutIds: string[], attempts = 1) {
  const batch = createMessageBatch<PayoutMessage>(
    "payout-submissions",
    payoutIds.map((payout_id, index) => ({ id: `msg-${index}-${payout_id}`, timestamp: Date.now(), attempts, body: { payout_id } })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return getQueueResult(batch, ctx);
}

export async function getPayout(apiKey: string, payoutId: string) {
  const response = await api(`/v1/payouts/${payoutId}`, { headers: bearer(apiKey) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Today's business date in Buenos Aires (where the sandbox books what it receives today). */
export function today(): string {
  return businessDateOf(Date.now());
}

export interface ReconciliationReport {
  id: string;
  date: string;
  status: string;
  totals: { statement_lines: number; matched: number; missing_in_ledger: number; missing_at_bank: number; amount_mismatch: number };
  steps: number;
  discrepancies: { id: string; kind: string; bank_transaction_id: string; ledger_amount: number | null; bank_amount: number | null; resolution: string; record_id: string | null }[];
}

/**
 * Starts a reconciliation over HTTP, then plays the queue: one step per "invocation" until
 * the run is done. Returns the report and the most D1 queries any step made.
 */
export async function reconcile(date: string, maxSteps = 10_000): Promise<{ report: ReconciliationReport; maxQueries: number }> {
  const started = await api("/v1/admin/reconciliations", json({ date }, operatorHeaders()));
  expect(started.status).toBe(202);
  const { id } = (await started.json()) as { id: string };
  return { report: await finishReconciliation(id, maxSteps), maxQueries: lastMaxQueries };
}

let lastMaxQueries = 0;

export async function finishReconciliation(id: string, maxSteps = 10_000): Promise<ReconciliationReport> {
  lastMaxQueries = 0;
  for (let step = 0; step < maxSteps; step++) {
    const outcome = await reconciliationStep(env, loadConfig(env), id);
    lastMaxQueries = Math.max(lastMaxQueries, outcome.queries);
    if (outcome.status !== "running") break;
  }
  const response = await api(`/v1/admin/reconciliations/${id}`, { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  return (await response.json()) as ReconciliationReport;
}

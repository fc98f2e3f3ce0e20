/**
 * The simulation's world: handles on the real entities of one run (merchants, customers,
 * their keys and references) and, next to them, the reference model of every balance and of
 * every record that can still move money. One run = one fresh world: tests never assume a
 * clean database, so each run creates its own merchants and customers.
 *
 * Views. A customer's balance is its Durable Object's (`object`), a merchant's is D1's
 * (`d1`). Both are modelled exactly as the service must show them *now*: a crash between the
 * object and D1 leaves the object ahead, and the model says so with a pending repair (see
 * pending.ts) instead of blurring the expected values.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { customerAccountStub } from "../../src/accounts/customer-account";
import { api, bearer, createCustomer, createMerchant, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { depositReference } from "../money";

export interface Money {
  available: number;
  reserved: number;
}

export interface SimMerchant {
  label: string;
  id: string;
  apiKey: string;
  reference: string;
  d1: Money;
  /** A bank reversal debited it: only then may `available` be below zero. */
  owes: boolean;
}

export interface SimCustomer {
  label: string;
  /** null until routing auto-creates it (the stranger). */
  id: string | null;
  cuit: string;
  name: string;
  cbu: string;
  /** The merchant that registered it and whose customer reference it has, if any. */
  home: number | null;
  reference: string | null;
  /**
   * A merchant that may read its balance: the one that registered it, or one with a payment
   * of it (API §4: a merchant that only knows a customer's CUIT may not).
   */
  reader: number | null;
  object: Money;
  owes: boolean;
}

export type Route =
  | { kind: "customer"; customer: number; merchant: number }
  | { kind: "merchant"; merchant: number }
  | { kind: "quarantine" };

export interface TransferEvent {
  id: string;
  type: "transfer.received";
  created_at: string;
  data: {
    bank_transaction_id: string;
    amount: number;
    currency: string;
    sender: { cuit: string | null; name: string | null; cbu: string | null };
    destination: { account_number: string | null };
    concepto: string | null;
    booked_at: string;
  };
}

/** One delivery of a bank transfer: the first, a duplicate's source, or a redelivery with other data. */
export interface Delivery {
  event: TransferEvent;
  route: Route;
  amount: number;
  /** standing: the version the books hold (or will). refused: answered 422. lost: another version was recorded first. */
  fate: "standing" | "refused" | "lost";
}

export interface SimTransfer {
  label: string;
  bankTransactionId: string;
  paymentId: string;
  /** webhook: events this simulation signs and sends; sandbox: booked at the sandbox bank. */
  source: "webhook" | "sandbox";
  versions: Delivery[];
  /**
   * undelivered: no effect yet (a crash before the credit, or a dropped webhook).
   * object_only: the customer's object credited it, D1 does not have it (a pending repair).
   * recorded: D1 has the payment.
   */
  stage: "undelivered" | "object_only" | "recorded";
  status: "credited" | "quarantined" | "reversed" | "returned";
  assigned: { customer: number; merchant: number } | null;
  /** The pair of the last assignment tried (an operator retries the same one). */
  lastAssignment: { customer: number; merchant: number } | null;
  reversalId: string | null;
  lastReversal: { reversalId: string; event: unknown } | null;
  /** The live return payout (index into payouts) of a quarantined payment. */
  liveReturn: number | null;
}

export type PayoutStage =
  | "refused" // 422 before anything was reserved: no object operation, no D1 row
  | "unprojected" // the customer's object reserved, D1 has nothing yet
  | "rejected" // D1 refused it for the merchant's balance
  | "pending"
  | "processing"
  | "completed"
  | "failed"
  | "canceled";

export interface SimPayout {
  label: string;
  /** Known once the request started (from the key's claim in the idempotency log) or from a 201; null if it never started. */
  id: string | null;
  kind: "payout" | "return";
  merchant: number | null;
  customer: number | null;
  amount: number;
  key: string | null;
  rawBody: string | null;
  transfer: number | null;
  stage: PayoutStage;
  /** The D1 row says the bank has it (submitted_at set). */
  submitted: boolean;
  bank: "none" | "processing" | "retry" | "completed" | "failed";
  /** The answer the idempotency log replays (null: none stored, e.g. after a 5xx). */
  answer: number | null;
  /** The key was aged past retention and reused: retries now belong to the new request. */
  keyRetired: boolean;
}

export type PendingRepair =
  | { kind: "credit"; transfer: number; customer: number; merchant: number; amount: number; lost: boolean; since: number }
  | { kind: "reserve"; payout: number; since: number }
  | { kind: "release"; payout: number; since: number }
  | { kind: "sync"; payout: number; op: "settle" | "release" };

export interface World {
  run: number;
  merchants: SimMerchant[];
  customers: SimCustomer[];
  /** `${merchant}:${customer}` pairs that may pay out (linked). */
  links: string[];
  transfers: SimTransfer[];
  payouts: SimPayout[];
  pending: PendingRepair[];
  /** Suspense's movement in this run (its absolute balance is shared with earlier runs). */
  suspense: { posted: number; available: number };
  suspenseBase: { posted: number; available: number };
  /** Invariants are global: only meaningful when they held as this run started. */
  invariantsUsable: boolean;
  step: number;
  trace: string[];
}

/** The sender of a merchant-reference cash-in: one of the customers, or nobody usable. */
export const ANONYMOUS = -1;

export function linkKey(merchant: number, customer: number): string {
  return `${merchant}:${customer}`;
}

export function link(world: World, merchant: number, customer: number): void {
  const key = linkKey(merchant, customer);
  if (!world.links.includes(key)) world.links.push(key);
}

/** The merchant now has a payment of this customer: it may read the balance. */
export function paidThrough(world: World, merchant: number, customer: number): void {
  link(world, merchant, customer);
  const target = world.customers[customer]!;
  if (target.reader === null) target.reader = merchant;
}

/**
 * The `index`-th item counting from the newest: fast-check draws small indices most often,
 * so steps tend to act on what the previous steps made (a return, then an assignment of the
 * same payment, then its settlement…), which is where chains of bugs hide.
 */
export function pick<T>(items: readonly T[], index: number): T | undefined {
  return items.length === 0 ? undefined : items[items.length - 1 - (index % items.length)];
}

export function note(world: World, line: string): void {
  world.trace.push(`#${world.step} ${line}`);
}

export async function suspenseBalances(): Promise<{ posted: number; available: number }> {
  const response = await api("/v1/ledger/accounts/la_suspense_ars", { headers: operatorHeaders() });
  expect(response.status).toBe(200);
  const { balances } = (await response.json()) as { balances: { posted: number; available: number } };
  return { posted: balances.posted, available: balances.available };
}

export async function invariantsHold(): Promise<boolean> {
  const response = await api("/v1/admin/invariants", { headers: operatorHeaders() });
  return response.status === 200 && ((await response.json()) as { ok: boolean }).ok === true;
}

/**
 * Tells the sandbox bank who holds a customer's account (API §7: payouts go to the
 * customer's own accounts only). Code without the route answers 404: nothing to register.
 */
async function registerAccountHolder(customer: { cbu: string; cuit: string; name: string }): Promise<void> {
  const response = await api("/v1/sandbox/accounts", json({ cbu: customer.cbu, holder_cuit: customer.cuit, holder_name: customer.name }, operatorHeaders()));
  if (response.status !== 404) expect(response.status).toBeLessThan(300);
}

let runs = 0;

/**
 * A fresh world: two merchants; c0 and c1 registered by m0, c2 by m1 and registered again by
 * m0 (so m0 may pay out money that came through m1, and be refused for its own balance); a
 * stranger whose first cash-in auto-creates it.
 */
export async function newWorld(): Promise<World> {
  runs += 1;
  const [m0, m1] = await Promise.all([createMerchant("Sim Merchant 0"), createMerchant("Sim Merchant 1")]);
  const merchants: SimMerchant[] = [m0, m1].map((merchant, index) => ({
    label: `m${index}`,
    id: merchant.id,
    apiKey: merchant.api_key,
    reference: merchant.reference,
    d1: { available: 0, reserved: 0 },
    owes: false,
  }));
  const homes = [0, 0, 1];
  const registered = await Promise.all(
    homes.map((home, index) => createCustomer(merchants[home]!.apiKey, { name: `Sim Customer ${index}`, cbu: randomCbu() })),
  );
  const c2 = registered[2]!;
  await createCustomer(merchants[0]!.apiKey, { cuit: c2.cuit, name: c2.name, cbu: c2.cbu });
  const references = await Promise.all(registered.map((customer, index) => depositReference(merchants[homes[index]!]!.apiKey, customer.id)));
  const customers: SimCustomer[] = registered.map((customer, index) => ({
    label: `c${index}`,
    id: customer.id,
    cuit: customer.cuit,
    name: customer.name,
    cbu: customer.cbu!,
    home: homes[index]!,
    reference: references[index]!,
    reader: homes[index]!,
    object: { available: 0, reserved: 0 },
    owes: false,
  }));
  customers.push({
    label: "stranger",
    id: null,
    cuit: randomCuit(),
    name: "Sim Stranger",
    cbu: randomCbu(),
    home: null,
    reference: null,
    reader: null,
    object: { available: 0, reserved: 0 },
    owes: false,
  });
  await Promise.all(customers.map(registerAccountHolder));
  const [suspenseBase, invariantsUsable] = await Promise.all([suspenseBalances(), invariantsHold()]);
  const world: World = {
    run: runs,
    merchants,
    customers,
    links: [],
    transfers: [],
    payouts: [],
    pending: [],
    suspense: { posted: 0, available: 0 },
    suspenseBase,
    invariantsUsable,
    step: 0,
    trace: [],
  };
  homes.forEach((home, customer) => link(world, home, customer));
  link(world, 0, 2);
  note(world, `run ${runs}: m0=${merchants[0]!.id} m1=${merchants[1]!.id} c0=${customers[0]!.id} c1=${customers[1]!.id} c2=${customers[2]!.id}`);
  if (!invariantsUsable) note(world, "the invariants were already red as this run started (an earlier failing run): not checked in this run");
  return world;
}

/**
 * The customer's balance in its Durable Object, the source of truth (read directly: a
 * merchant may read it over HTTP only once the customer transacted with it, API §4, which
 * test/routes/customer-privacy.test.ts covers).
 */
export async function customerBalance(_world: World, customer: SimCustomer): Promise<Money> {
  const balance = await customerAccountStub(env, customer.id!).balance("ARS");
  return { available: balance.available, reserved: balance.reserved };
}

export async function merchantBalance(merchant: SimMerchant): Promise<Money> {
  const response = await api("/v1/merchant/balance", { headers: bearer(merchant.apiKey) });
  if (response.status !== 200) throw new Error(`GET /v1/merchant/balance of ${merchant.label} answered ${response.status}`);
  const body = (await response.json()) as Money;
  return { available: body.available, reserved: body.reserved };
}


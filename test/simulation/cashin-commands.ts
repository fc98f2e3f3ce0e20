/**
 * Cash-ins (API §5, §6): transfers routed by a customer reference, by a merchant reference
 * with the sender's CUIT (auto-creating an unknown sender, or the merchant's funds only
 * without one), unmatched into quarantine, booked at the sandbox bank with a webhook
 * delivered twice or dropped; duplicates of a delivery; redeliveries of one
 * bank_transaction_id with other data; crashes before and after the customer's object
 * credits.
 *
 * The contract the model holds the service to: one bank transfer moves money once, as its
 * first applied version says. A duplicate moves nothing (200). A version with other data
 * moves nothing and is refused (422, stored failed) — with one allowance: while the first
 * version sits in the customer's object only (a crash before D1), a redelivery routed to
 * someone else may be the one D1 records first (200); the object's alarm then reverts the
 * first credit. A redelivery routed to the same customer with another amount cannot win: the
 * object already holds the first amount.
 */
import { env } from "cloudflare:workers";
import { armFault, type FaultPoint } from "../../src/faults";
import { paymentIdOf } from "../../src/cashins/receive-transfer";
import { api, bearer, json, operatorHeaders, randomCbu, randomCuit } from "../helpers";
import { sendBankEvent, transferEvent, uniqueId } from "../money";
import { expectEqual, expectOneOf, mismatch } from "./checks";
import { SimCommand } from "./command";
import { creditObject, describeRoute, recordPayment, sameRoute } from "./effects";
import { pendingOf, resolve } from "./pending";
import { ANONYMOUS, type Delivery, link, note, pick, type Route, type SimTransfer, type TransferEvent, type World } from "./world";

export type CashInCrash = "none" | Extract<FaultPoint, "cashin.before_account_credit" | "cashin.after_account_credit" | "groupcommit.inside_batch" | "groupcommit.after_batch">;

const crashLabel = (crash: CashInCrash) => (crash === "none" ? "" : `, crash ${crash.replace("cashin.", "").replace("groupcommit.", "group commit ")}`);

function referenced(world: World): number[] {
  return world.customers.flatMap((customer, index) => (customer.reference !== null ? [index] : []));
}

function newTransfer(world: World, event: TransferEvent, route: Route, source: SimTransfer["source"]): Promise<SimTransfer> {
  return paymentIdOf(event.data.bank_transaction_id).then((paymentId) => {
    const transfer: SimTransfer = {
      label: `t${world.transfers.length}`,
      bankTransactionId: event.data.bank_transaction_id,
      paymentId,
      source,
      versions: [{ event, route, amount: event.data.amount, fate: "standing" }],
      stage: "undelivered",
      status: route.kind === "quarantine" ? "quarantined" : "credited",
      assigned: null,
      lastAssignment: null,
      reversalId: null,
      lastReversal: null,
      liveReturn: null,
    };
    world.transfers.push(transfer);
    return transfer;
  });
}

/** The stranger gets an id when routing auto-creates it: read it back by CUIT. */
async function learnCustomer(world: World, customer: number, merchant: number): Promise<void> {
  const target = world.customers[customer]!;
  if (target.id !== null) return;
  const response = await api(`/v1/customers?cuit=${target.cuit}`, { headers: bearer(world.merchants[merchant]!.apiKey) });
  const page = (await response.json()) as { data: { id: string }[] };
  if (page.data.length !== 1) mismatch(world, `routing by ${world.merchants[merchant]!.label}'s reference did not create ${target.label} (CUIT ${target.cuit}) once: ${JSON.stringify(page)}`);
  target.id = page.data[0]!.id;
  note(world, `${target.label} auto-created as ${target.id}`);
}

/**
 * Delivers a version of a transfer nothing has applied yet (`copies` times at once): it is
 * the first to take effect, once. Every other version becomes one a repeat of which is
 * refused. Returns what happened, for the trace.
 */
async function deliverFirst(world: World, transfer: SimTransfer, version: Delivery, events: TransferEvent[], crash: CashInCrash, what: string): Promise<string> {
  for (const other of transfer.versions) if (other !== version && other.fate === "standing") other.fate = "refused";
  version.fate = "standing";
  const { route, amount } = version;
  if (crash !== "none") armFault(crash);
  const responses = await Promise.all(events.map((event) => sendBankEvent(event)));
  const statuses = responses.map((response) => response.status);
  const response = { status: statuses.length === 1 ? statuses[0] : statuses };
  if (route.kind === "customer") {
    await learnCustomer(world, route.customer, route.merchant);
    link(world, route.merchant, route.customer); // routing links the pair before any crash point
  }
  const crashes = route.kind === "customer" ? crash : "none"; // the other routes never reach the object
  if (crashes === "cashin.before_account_credit") {
    expectEqual(world, `${what}: the answer to a delivery that died before the credit`, response.status, 500);
    return "500 before the credit: nothing moved, the bank will redeliver";
  }
  if (crashes === "cashin.after_account_credit" && route.kind === "customer") {
    expectEqual(world, `${what}: the answer to a delivery that died after the object's credit`, response.status, 500);
    creditObject(world, route.customer, amount);
    transfer.stage = "object_only";
    world.pending.push({ kind: "credit", transfer: world.transfers.indexOf(transfer), customer: route.customer, merchant: route.merchant, amount, lost: false, since: Date.now() });
    return `500 after the object's credit: ${world.customers[route.customer]!.label}'s object holds ${amount}, D1 not yet`;
  }
  if (crashes === "groupcommit.inside_batch" && route.kind === "customer") {
    // Acknowledged (the object has it), then its group commit died: D1 rolled the group back.
    expectEqual(world, `${what}: the answer to a delivery whose group commit died`, response.status, 200);
    creditObject(world, route.customer, amount);
    transfer.stage = "object_only";
    world.pending.push({ kind: "credit", transfer: world.transfers.indexOf(transfer), customer: route.customer, merchant: route.merchant, amount, lost: false, since: Date.now() });
    return `200, then its group commit died: ${world.customers[route.customer]!.label}'s object holds ${amount}, D1 not yet`;
  }
  expectEqual(world, `${what}: the answer`, response.status, events.length === 1 ? 200 : events.map(() => 200));
  recordPayment(world, transfer, route, amount, false);
  return `${statuses.join(", ")}: ${amount} to ${describeRoute(world, route)}${events.length > 1 ? ", once" : ""}`;
}

abstract class NewCashIn extends SimCommand {
  constructor(
    readonly amount: number,
    readonly crash: CashInCrash,
  ) {
    super();
  }

  protected async send(world: World, concepto: string, sender: TransferEvent["data"]["sender"], route: Route): Promise<void> {
    const event = transferEvent({ amount: this.amount, concepto, sender }) as TransferEvent;
    const transfer = await newTransfer(world, event, route, "webhook");
    const what = `${transfer.label} (${transfer.bankTransactionId})`;
    this.note(world, `${what} → ${await deliverFirst(world, transfer, transfer.versions[0]!, [event], this.crash, what)}`);
  }
}

export class CashInByCustomerReference extends NewCashIn {
  constructor(
    readonly customer: number,
    amount: number,
    crash: CashInCrash,
  ) {
    super(amount, crash);
  }

  protected async act(world: World): Promise<void> {
    const index = pick(referenced(world), this.customer)!;
    const customer = world.customers[index]!;
    const sender = { cuit: randomCuit(), name: "Sim Payer", cbu: randomCbu() };
    await this.send(world, `pago ${customer.reference}`, sender, { kind: "customer", customer: index, merchant: customer.home! });
  }

  toString(): string {
    return `cashInByCustomerReference(customer ${this.customer}, ${this.amount}${crashLabel(this.crash)})`;
  }
}

export class CashInByMerchantReference extends NewCashIn {
  /** `sender` picks one of the customers' CUITs (the stranger's included), or none usable. */
  constructor(
    readonly merchant: number,
    readonly sender: number,
    amount: number,
    crash: CashInCrash,
  ) {
    super(amount, crash);
  }

  protected async act(world: World): Promise<void> {
    const merchantIndex = this.merchant % world.merchants.length;
    const merchant = world.merchants[merchantIndex]!;
    const choice = this.sender % (world.customers.length + 1);
    const senderIndex = choice === 0 ? ANONYMOUS : choice - 1;
    if (senderIndex === ANONYMOUS) {
      await this.send(world, `deposito ${merchant.reference}`, { cuit: null, name: "Sin CUIT", cbu: null }, { kind: "merchant", merchant: merchantIndex });
      return;
    }
    const customer = world.customers[senderIndex]!;
    await this.send(
      world,
      `deposito ${merchant.reference}`,
      { cuit: customer.cuit, name: customer.name, cbu: customer.cbu },
      { kind: "customer", customer: senderIndex, merchant: merchantIndex },
    );
  }

  toString(): string {
    return `cashInByMerchantReference(merchant ${this.merchant}, sender ${this.sender}, ${this.amount}${crashLabel(this.crash)})`;
  }
}

export class CashInUnmatched extends NewCashIn {
  constructor(amount: number) {
    super(amount, "none");
  }

  protected async act(world: World): Promise<void> {
    await this.send(world, "sin referencia", { cuit: randomCuit(), name: "Sim Unknown", cbu: randomCbu() }, { kind: "quarantine" });
  }

  toString(): string {
    return `cashInUnmatched(${this.amount})`;
  }
}

/** A transfer booked at the sandbox bank: its webhook delivered twice, or dropped (reconciliation recovers it). */
export class SandboxTransfer extends SimCommand {
  constructor(
    readonly customer: number,
    readonly amount: number,
    readonly deliver: "twice" | "none",
  ) {
    super();
  }

  protected async act(world: World): Promise<void> {
    const index = pick(referenced(world), this.customer)!;
    const customer = world.customers[index]!;
    const sender = { cuit: randomCuit(), name: "Sim Sandbox Payer", cbu: randomCbu() };
    const concepto = `pago ${customer.reference}`;
    const response = await api("/v1/sandbox/transfers", json({ amount: this.amount, sender, concepto, deliver: this.deliver }, operatorHeaders()));
    expectEqual(world, "POST /v1/sandbox/transfers", response.status, 201);
    const body = (await response.json()) as { transfer: { bank_transaction_id: string }; deliveries: { status: number }[] };
    const event = transferEvent({ amount: this.amount, concepto, sender, bank_transaction_id: body.transfer.bank_transaction_id }) as TransferEvent;
    const route: Route = { kind: "customer", customer: index, merchant: customer.home! };
    const transfer = await newTransfer(world, event, route, "sandbox");
    if (this.deliver === "none") {
      expectEqual(world, "deliveries of a dropped webhook", body.deliveries, []);
      this.note(world, `${transfer.label} booked, webhook dropped: nothing moves until reconciliation`);
      return;
    }
    expectEqual(world, "the two deliveries' answers", body.deliveries.map((delivery) => delivery.status), [200, 200]);
    recordPayment(world, transfer, route, this.amount, false);
    this.note(world, `${transfer.label} delivered twice → credited once: ${this.amount} to ${describeRoute(world, route)}`);
  }

  toString(): string {
    return `sandboxTransfer(customer ${this.customer}, ${this.amount}, deliver ${this.deliver})`;
  }
}

function webhookTransfers(world: Readonly<World>): SimTransfer[] {
  return world.transfers.filter((transfer) => transfer.source === "webhook");
}

/**
 * The bank sends a delivery again, byte for byte (same event id) or under a new event id;
 * `concurrently`: three copies at once (the bank retrying while the first is in flight).
 */
export class DuplicateDelivery extends SimCommand {
  constructor(
    readonly transfer: number,
    readonly version: number,
    readonly sameEventId: boolean,
    readonly concurrently: boolean,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return webhookTransfers(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const transfer = pick(webhookTransfers(world), this.transfer)!;
    const version = pick(transfer.versions, this.version)!;
    const events = Array.from({ length: this.concurrently ? 3 : 1 }, () => (this.sameEventId ? version.event : { ...version.event, id: uniqueId("evt") }));
    const what = `${this.concurrently ? "3 concurrent duplicates" : "duplicate"} of ${transfer.label}'s version ${transfer.versions.indexOf(version)} (${version.fate}, ${transfer.stage})`;
    const expected = (status: number) => (events.length === 1 ? status : events.map(() => status));
    if (version.fate === "standing" && transfer.stage === "undelivered") {
      this.note(world, `${what} → ${await deliverFirst(world, transfer, version, events, "none", what)}`);
      return;
    }
    const statuses = (await Promise.all(events.map((event) => sendBankEvent(event)))).map((response) => response.status);
    const status = statuses.length === 1 ? statuses[0] : statuses;
    if (version.fate !== "standing") {
      expectEqual(world, `${what}: a repeat of a version the books do not hold`, status, expected(422));
      this.note(world, `${what} → 422, nothing moves`);
      return;
    }
    expectEqual(world, `${what}: a repeat of the version the books hold`, status, expected(200));
    const item = pendingOf(world, "credit", (candidate) => candidate.kind === "credit" && world.transfers[candidate.transfer] === transfer && !candidate.lost);
    if (transfer.stage === "object_only" && item) {
      this.note(world, `${what} → 200: ${resolve(world, item)}`);
      return;
    }
    this.note(world, `${what} → 200, nothing moves`);
  }

  toString(): string {
    return `duplicateDelivery(transfer ${this.transfer}, version ${this.version}, ${this.sameEventId ? "same event id" : "new event id"}${this.concurrently ? ", 3 at once" : ""})`;
  }
}

export type RedeliveryChange = "amount" | "customer" | "quarantine" | "merchant";

/** The bank sends one bank_transaction_id again with other data: another amount, or routed elsewhere. */
export class RedeliveryWithOtherData extends SimCommand {
  constructor(
    readonly transfer: number,
    readonly change: RedeliveryChange,
    readonly delta: number,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return webhookTransfers(world).length > 0;
  }

  private variant(world: World, base: Delivery): { event: TransferEvent; route: Route; amount: number } {
    const data = base.event.data;
    const other = (changes: Partial<TransferEvent["data"]>, route: Route) => {
      const amount = changes.amount ?? data.amount;
      if (sameRoute(route, base.route) && amount === base.amount) changes.amount = data.amount + this.delta; // never identical
      const event: TransferEvent = { ...base.event, id: uniqueId("evt"), data: { ...data, ...changes } };
      return { event, route, amount: event.data.amount };
    };
    switch (this.change) {
      case "amount":
        return other({ amount: data.amount + this.delta }, base.route);
      case "customer": {
        const current = base.route.kind === "customer" ? base.route.customer : -1;
        const candidates = referenced(world).filter((index) => index !== current);
        const index = pick(candidates, this.delta)!;
        const customer = world.customers[index]!;
        return other({ concepto: `pago ${customer.reference}` }, { kind: "customer", customer: index, merchant: customer.home! });
      }
      case "quarantine":
        return other({ concepto: "sin referencia" }, { kind: "quarantine" });
      case "merchant": {
        const merchant = this.delta % world.merchants.length;
        return other(
          { concepto: `deposito ${world.merchants[merchant]!.reference}`, sender: { cuit: null, name: "Sin CUIT", cbu: null } },
          { kind: "merchant", merchant },
        );
      }
    }
  }

  protected async act(world: World): Promise<void> {
    const transfer = pick(webhookTransfers(world), this.transfer)!;
    const base = transfer.versions.find((version) => version.fate === "standing") ?? transfer.versions[0]!;
    const { event, route, amount } = this.variant(world, base);
    const version: Delivery = { event, route, amount, fate: "refused" };
    transfer.versions.push(version);
    const what = `redelivery of ${transfer.label} (${transfer.stage}, ${base.amount} to ${describeRoute(world, base.route)}) as ${amount} to ${describeRoute(world, route)}`;

    if (transfer.stage === "undelivered") {
      this.note(world, `${what}, the first to take effect → ${await deliverFirst(world, transfer, version, [event], "none", what)}`);
      return;
    }
    const response = await sendBankEvent(event);
    if (transfer.stage === "recorded") {
      // Decided at once where the first version is known (the same customer's object, or D1
      // for routes that write D1 directly). A customer whose object never saw the transfer
      // acknowledges it, and the group commit undoes it a moment later (sendBankEvent waits):
      // either way nothing moves.
      const objectKnowsIt = base.route.kind === "customer" && route.kind === "customer" && route.customer === base.route.customer;
      const acknowledged = route.kind === "customer" && !objectKnowsIt;
      expectEqual(world, `${what}: a version with other data than the recorded one`, response.status, acknowledged ? 200 : 422);
      this.note(world, `${what} → ${response.status}, nothing moves${acknowledged ? " (undone by the group commit)" : ""}`);
      return;
    }
    // The first version is in the customer's object only (a crash before D1).
    const first = pendingOf(world, "credit", (item) => item.kind === "credit" && world.transfers[item.transfer] === transfer && !item.lost);
    if (!first || first.kind !== "credit") mismatch(world, `model: ${transfer.label} is object_only without a pending credit`);
    const sameCustomer = route.kind === "customer" && route.customer === first.customer;
    if (sameCustomer) {
      expectEqual(world, `${what}: the object holds the first version's ${first.amount}, so this one`, response.status, 422);
    } else {
      expectOneOf(world, `${what}: D1 may record either version first`, response.status, [200, 422]);
    }
    if (response.status === 200) {
      // This version reached D1 first and stands; the first credit is now a duplicate to revert.
      base.fate = "lost";
      version.fate = "standing";
      first.lost = true;
      transfer.stage = "undelivered";
      recordPayment(world, transfer, route, amount, false);
      this.note(world, `${what} → 200: this version stands; ${world.customers[first.customer]!.label}'s credit of ${first.amount} is to be reverted`);
      return;
    }
    // Refused. The request may have finished projecting the first version on its way (the
    // object's stored projection): look in D1, and hold it to the first version's data.
    const payment = await env.DB.prepare("SELECT amount, customer_id FROM payments WHERE id = ?")
      .bind(transfer.paymentId)
      .first<{ amount: number; customer_id: string | null }>();
    if (payment) {
      expectEqual(world, `${what}: D1's payment after refusing the redelivery`, payment, { amount: first.amount, customer_id: world.customers[first.customer]!.id });
      this.note(world, `${what} → 422; ${resolve(world, first)}`);
      return;
    }
    this.note(world, `${what} → 422, nothing moves`);
  }

  toString(): string {
    return `redeliveryWithOtherData(transfer ${this.transfer}, ${this.change}, delta ${this.delta})`;
  }
}

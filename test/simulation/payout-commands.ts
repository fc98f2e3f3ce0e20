/**
 * Payouts (API §1 idempotency, §7): creation with crashes at each step of the saga and JSON
 * content types with parameters; retries with the same key and the same body or another
 * body; a key reused after its retention; cancels; the payout queue's submission (bank
 * accepting, failing transiently or permanently, a crash after the claim); the sandbox
 * bank settling (completed, failed permanently, failed transiently); and bank events that
 * contradict a completion.
 *
 * The contract: a 201 moved exactly its amount on the customer and the merchant; a retry
 * with another body moves nothing (422 idempotency_key_reused or 409 conflict); a key reused
 * after retention is a new request that never answers or changes the old payout; nothing
 * but a bank reversal takes a balance below zero.
 */
import { env } from "cloudflare:workers";
import { derivedId } from "../../src/crypto";
import { armFault, type FaultPoint } from "../../src/faults";
import { limits } from "../../src/limits";
import { api, bearer, json, operatorHeaders } from "../helpers";
import { drainPayoutQueue, sendBankEvent, uniqueId } from "../money";
import { expectEqual, expectOneOf, mismatch } from "./checks";
import { problemCode, SimCommand } from "./command";
import { reserveMerchant, reserveObject } from "./effects";
import { completePayout, hasLiveRow, releasePayout } from "./payout-lifecycle";
import { customerD1Available, pendingOf, resolve } from "./pending";
import { pick, type SimPayout, type World } from "./world";

export type PayoutCrash = "none" | Extract<FaultPoint, "payout.after_customer_reserve" | "payout.after_projection" | "payout.after_rejection">;

/** JSON with parameters is JSON (API §1; issue 8 item 7). */
export const contentTypes = ["application/json", "application/json; charset=utf-8", "application/json;", "Application/JSON ; charset=UTF-8"] as const;

/** Pairs (merchant, customer) that may pay out: linked, and the customer exists. */
function payablePairs(world: Readonly<World>): [number, number][] {
  return world.links
    .map((key) => key.split(":").map(Number) as [number, number])
    .filter(([, customer]) => world.customers[customer]!.id !== null);
}

async function postPayout(world: World, payout: SimPayout, contentType: string = contentTypes[0]): Promise<Response> {
  const merchant = world.merchants[payout.merchant!]!;
  const response = await api("/v1/payouts", {
    method: "POST",
    headers: { ...bearer(merchant.apiKey), "content-type": contentType, "idempotency-key": payout.key! },
    body: payout.rawBody!,
  });
  payout.id ??= await payoutIdFromLog(merchant.id, payout.key!);
  return response;
}

/**
 * The id a payout gets: derived from (merchant, key, the key's claim), the claim minted by the
 * idempotency log when the request started (null if it never started: a 400 is not recorded).
 */
export async function payoutIdFromLog(merchantId: string, key: string): Promise<string | null> {
  const row = await env.DB.prepare("SELECT claim_id FROM idempotency_keys WHERE caller = ? AND key = ?").bind(merchantId, key).first<{ claim_id: string }>();
  return row ? derivedId("po", `${merchantId}:${key}:${row.claim_id}`) : null;
}

function payoutBody(world: World, customer: number, amount: number, label: string): string {
  const target = world.customers[customer]!;
  return JSON.stringify({ customer_id: target.id, amount, currency: "ARS", destination_cbu: target.cbu, description: `sim ${label}` });
}

/**
 * A request that runs for the first time with its key: reserve on the customer's object,
 * then on the merchant in D1, or on neither — crashing where `crash` says.
 */
async function expectCreation(world: World, payout: SimPayout, response: Response, crash: PayoutCrash, what: string, oldId: string | null): Promise<string> {
  const customer = world.customers[payout.customer!]!;
  const merchant = world.merchants[payout.merchant!]!;
  const text = await response.text();
  const code = () => (JSON.parse(text) as { code?: string }).code;
  if (customer.object.available < payout.amount) {
    expectEqual(world, `${what}: ${customer.label}'s object holds ${customer.object.available}`, [response.status, response.status === 422 ? code() : text], [422, "insufficient_funds"]);
    payout.stage = "refused";
    payout.answer = 422;
    return `422: ${customer.label} lacks the funds`;
  }
  if (crash === "payout.after_customer_reserve") {
    expectEqual(world, `${what}: died after the customer's reserve`, response.status, 500);
    reserveObject(world, payout.customer!, payout.amount);
    payout.stage = "unprojected";
    world.pending.push({ kind: "reserve", payout: world.payouts.indexOf(payout), since: Date.now() });
    return `500 after ${customer.label}'s reserve: D1 has nothing yet`;
  }
  if (merchant.d1.available < payout.amount || customerD1Available(world, payout.customer!) < payout.amount) {
    payout.stage = "rejected";
    if (crash === "payout.after_rejection") {
      expectEqual(world, `${what}: died after D1 rejected it for ${merchant.label}`, response.status, 500);
      reserveObject(world, payout.customer!, payout.amount);
      world.pending.push({ kind: "release", payout: world.payouts.indexOf(payout), since: Date.now() });
      return `500 after D1 rejected it: ${customer.label}'s object still reserves`;
    }
    expectEqual(world, `${what}: D1 available is ${merchant.d1.available} for ${merchant.label}, ${customerD1Available(world, payout.customer!)} for ${customer.label}`, [response.status, response.status === 422 ? code() : text], [422, "insufficient_funds"]);
    payout.answer = 422;
    return `422: D1 lacks the funds (${merchant.label}'s or ${customer.label}'s copy)`;
  }
  reserveObject(world, payout.customer!, payout.amount);
  reserveMerchant(world, payout.merchant!, payout.amount);
  payout.stage = "pending";
  if (crash === "payout.after_projection") {
    expectEqual(world, `${what}: died after D1 recorded it`, response.status, 500);
    return "500 after D1 recorded it: the payout exists, pending";
  }
  if (response.status !== 201) mismatch(world, `${what}: expected 201, got ${response.status} ${text}`);
  const body = JSON.parse(text) as { id: string; amount: number; status: string; customer_id: string };
  if (payout.id === null) {
    if (body.id === oldId) mismatch(world, `${what}: a key reused after its retention answered the old payout ${oldId}`);
    payout.id = body.id;
  }
  expectEqual(world, `${what}: the 201's payout`, [body.id, body.amount, body.status, body.customer_id], [payout.id, payout.amount, "pending", customer.id]);
  payout.answer = 201;
  return `201 ${payout.id}`;
}

export class CreatePayout extends SimCommand {
  constructor(
    readonly pair: number,
    readonly amount: number,
    readonly crash: PayoutCrash,
    readonly contentType: number,
  ) {
    super();
  }

  protected async act(world: World): Promise<void> {
    const [merchant, customer] = pick(payablePairs(world), this.pair)!;
    const label = `p${world.payouts.length}`;
    const key = uniqueId("sim-key");
    const payout: SimPayout = {
      label,
      id: null, // known once the request started (postPayout)
      kind: "payout",
      merchant,
      customer,
      amount: this.amount,
      key,
      rawBody: payoutBody(world, customer, this.amount, label),
      transfer: null,
      stage: "refused",
      submitted: false,
      bank: "none",
      answer: null,
      keyRetired: false,
    };
    world.payouts.push(payout);
    const contentType = contentTypes[this.contentType % contentTypes.length]!;
    if (this.crash !== "none") armFault(this.crash);
    const response = await postPayout(world, payout, contentType);
    const what = `${label}: ${world.merchants[merchant]!.label} pays out ${this.amount} of ${world.customers[customer]!.label} (${contentType})`;
    this.note(world, `${what} → ${await expectCreation(world, payout, response, this.crash, what, null)}`);
  }

  toString(): string {
    return `createPayout(pair ${this.pair}, ${this.amount}${this.crash === "none" ? "" : `, crash ${this.crash.replace("payout.", "")}`}, content type ${this.contentType})`;
  }
}

function retriable(world: Readonly<World>): SimPayout[] {
  return world.payouts.filter((payout) => payout.kind === "payout" && !payout.keyRetired);
}

/** Another body under the same key: another amount, or another customer of the same merchant. */
function otherBody(world: World, payout: SimPayout, change: "amount" | "customer", delta: number): { customer: number; amount: number } {
  if (change === "customer") {
    const others = payablePairs(world).filter(([merchant, customer]) => merchant === payout.merchant && customer !== payout.customer);
    const other = pick(others, delta);
    if (other) return { customer: other[1], amount: payout.amount };
  }
  return { customer: payout.customer!, amount: payout.amount + delta };
}

export class RetryPayout extends SimCommand {
  constructor(
    readonly payout: number,
    readonly change: "same" | "amount" | "customer",
    readonly delta: number,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return retriable(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const payout = pick(retriable(world), this.payout)!;
    if (this.change !== "same") {
      const { customer, amount } = otherBody(world, payout, this.change, this.delta);
      const retry: SimPayout = { ...payout, customer, amount, rawBody: payoutBody(world, customer, amount, payout.label) };
      const response = await postPayout(world, retry);
      const what = `${payout.label} retried with another body (${amount} of ${world.customers[customer]!.label}) after ${payout.answer ?? "a 5xx"}`;
      expectOneOf(world, `${what}: same key, another body`, [response.status, await problemCode(response)], [
        [422, "idempotency_key_reused"],
        [409, "conflict"],
      ]);
      this.note(world, `${what} → ${response.status}, nothing moves`);
      return;
    }
    const response = await postPayout(world, payout);
    const what = `${payout.label} retried with the same body after ${payout.answer ?? "a 5xx"} (${payout.stage})`;
    const body = (await response.json()) as { id?: string; code?: string };
    if (payout.answer !== null) {
      expectEqual(world, `${what}: the replayed answer`, response.status, payout.answer);
      if (payout.answer === 201) expectEqual(world, `${what}: the replayed payout id`, body.id, payout.id);
      this.note(world, `${what} → ${response.status} replayed, nothing moves`);
      return;
    }
    // The first attempt died: the retry runs again and finishes what it left.
    const item = pendingOf(world, payout.stage === "unprojected" ? "reserve" : "release", (candidate) => candidate.kind !== "credit" && world.payouts[candidate.payout] === payout);
    let done = "";
    if (item) done = `; ${resolve(world, item)}`;
    let allowed: number[];
    if (payout.stage === "rejected" || payout.stage === "refused") allowed = [422];
    else if (payout.stage === "failed" || payout.stage === "canceled") allowed = [201, 422]; // its funds are back: either answer moves nothing
    else allowed = [201];
    expectOneOf(world, `${what}: the answer`, response.status, allowed);
    if (response.status === 201) expectEqual(world, `${what}: the payout id`, body.id, payout.id);
    payout.answer = response.status;
    this.note(world, `${what} → ${response.status}${done}`);
  }

  toString(): string {
    return `retryPayout(payout ${this.payout}, ${this.change === "same" ? "same body" : `other ${this.change}`}, delta ${this.delta})`;
  }
}

/** The idempotency record is aged past retention (as 48 h would), then the key is used for another payout. */
export class ReuseKeyAfterRetention extends SimCommand {
  constructor(
    readonly payout: number,
    readonly change: "amount" | "customer",
    readonly delta: number,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return retriable(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const old = pick(retriable(world), this.payout)!;
    const merchant = world.merchants[old.merchant!]!;
    await env.DB.prepare("UPDATE idempotency_keys SET created_at = created_at - ? WHERE caller = ? AND key = ?")
      .bind(limits.idempotency_retention_ms + 3_600_000, merchant.id, old.key)
      .run();
    old.keyRetired = true;
    const { customer, amount } = otherBody(world, old, this.change, this.delta);
    const label = `p${world.payouts.length}`;
    const payout: SimPayout = {
      ...old,
      label,
      id: null,
      customer,
      amount,
      rawBody: payoutBody(world, customer, amount, label),
      stage: "refused",
      submitted: false,
      bank: "none",
      answer: null,
      keyRetired: false,
    };
    world.payouts.push(payout);
    const response = await postPayout(world, payout);
    const what = `${label}: ${old.label}'s key reused after its retention for ${amount} of ${world.customers[customer]!.label}`;
    // The old payout's id is one a new payout must never answer with — unless the old request never created anything.
    const oldId = old.stage === "refused" ? null : old.id;
    this.note(world, `${what} → ${await expectCreation(world, payout, response, "none", what, oldId)}`);
  }

  toString(): string {
    return `reuseKeyAfterRetention(payout ${this.payout}, other ${this.change}, delta ${this.delta})`;
  }
}

function merchantPayouts(world: Readonly<World>): SimPayout[] {
  return world.payouts.filter((payout) => payout.kind === "payout" && payout.id !== null);
}

export class CancelPayout extends SimCommand {
  constructor(
    readonly payout: number,
    readonly crash: boolean,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return merchantPayouts(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const payout = pick(merchantPayouts(world), this.payout)!;
    if (this.crash) armFault("transition.after_ledger");
    const response = await api(`/v1/payouts/${payout.id}/cancel`, { method: "POST", headers: bearer(world.merchants[payout.merchant!]!.apiKey) });
    const what = `cancel ${payout.label} (${payout.stage})${this.crash ? " dying after D1" : ""}`;
    if (!hasLiveRow(payout)) {
      expectEqual(world, `${what}: no such payout for the merchant`, response.status, 404);
      this.note(world, `${what} → 404`);
      return;
    }
    if (payout.stage === "pending") {
      expectEqual(world, `${what}: the answer`, response.status, this.crash ? 500 : 200);
      releasePayout(world, payout, "canceled", !this.crash);
      this.note(world, `${what} → ${response.status}: the funds come back${this.crash ? " in D1; the object waits for the repair job" : ""}`);
      return;
    }
    if (payout.stage === "canceled") {
      // Canceling again finishes what a crash left (the object's release). With the fault
      // armed it may die at the same point again (500) or, if nothing was left, not reach it.
      expectOneOf(world, `${what}: canceling a canceled payout again`, response.status, this.crash ? [500, 200] : [200]);
      const sync = pendingOf(world, "sync", (item) => item.kind === "sync" && world.payouts[item.payout] === payout);
      this.note(world, `${what} → ${response.status}${sync && response.status === 200 ? `; ${resolve(world, sync)}` : ", nothing moves"}`);
      return;
    }
    expectEqual(world, `${what}: only a pending payout can be canceled`, [response.status, await problemCode(response)], [422, "invalid_state"]);
    this.note(world, `${what} → 422 invalid_state`);
  }

  toString(): string {
    return `cancelPayout(payout ${this.payout}${this.crash ? ", crash after_ledger" : ""})`;
  }
}

function withId(world: Readonly<World>): SimPayout[] {
  return world.payouts.filter((payout) => payout.id !== null);
}

const sandboxBank = () => env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));

/** The payout queue delivers a payout's message: claim, submit to the bank. */
export class SubmitToBank extends SimCommand {
  constructor(
    readonly payout: number,
    readonly bankAnswer: "accepted" | "transient" | "permanent",
    readonly crash: boolean,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return withId(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const payout = pick(withId(world), this.payout)!;
    const bank = sandboxBank();
    if (this.bankAnswer !== "accepted") await bank.planSubmissionFailures(this.bankAnswer, 1);
    if (this.crash) armFault("payout.after_claim");
    let result: Awaited<ReturnType<typeof drainPayoutQueue>>;
    try {
      result = await drainPayoutQueue([payout.id!], 1);
    } finally {
      await bank.planSubmissionFailures("transient", 0);
      await bank.planSubmissionFailures("permanent", 0);
    }
    const outcome = result.retryMessages.length > 0 ? "retry" : result.explicitAcks.length > 0 ? "ack" : "none";
    const what = `queue submits ${payout.label} (${payout.stage}${payout.stage === "processing" ? payout.submitted ? ", at the bank" : ", not at the bank" : ""}; bank ${this.bankAnswer}${this.crash ? ", dying after the claim" : ""})`;
    const claimable = payout.stage === "pending" || (payout.stage === "processing" && !payout.submitted);
    if (!claimable) {
      expectEqual(world, `${what}: nothing to submit, the message is acknowledged`, outcome, "ack");
      this.note(world, `${what} → skipped`);
      return;
    }
    payout.stage = "processing";
    if (this.crash) {
      expectEqual(world, `${what}: the message`, outcome, "retry");
      this.note(world, `${what} → claimed, died before the bank: retried later`);
      return;
    }
    const bankKnowsIt = payout.bank === "processing" || payout.bank === "completed" || payout.bank === "failed";
    const answer = bankKnowsIt ? "accepted" : this.bankAnswer;
    if (answer === "transient") {
      expectEqual(world, `${what}: the message after a transient bank error`, outcome, "retry");
      this.note(world, `${what} → the bank failed transiently: retried later`);
      return;
    }
    expectEqual(world, `${what}: the message`, outcome, "ack");
    if (answer === "permanent") {
      releasePayout(world, payout, "failed", true);
      this.note(world, `${what} → the bank rejected it: failed, the funds come back`);
      return;
    }
    payout.submitted = true;
    payout.bank = "processing";
    this.note(world, `${what} → at the bank`);
  }

  toString(): string {
    return `submitToBank(payout ${this.payout}, bank ${this.bankAnswer}${this.crash ? ", crash after_claim" : ""})`;
  }
}

/** The sandbox bank settles a payout and delivers the event (API §10). */
export class SettleAtBank extends SimCommand {
  constructor(
    readonly payout: number,
    readonly outcome: "completed" | "failed" | "transient",
    readonly crash: boolean,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return withId(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const payout = pick(withId(world), this.payout)!;
    if (this.crash) armFault("transition.after_ledger");
    const response = await api(
      `/v1/sandbox/payouts/${payout.id}/settle`,
      json({ outcome: this.outcome === "completed" ? "completed" : "failed", permanent: this.outcome !== "transient" }, operatorHeaders()),
    );
    const what = `bank settles ${payout.label} (${payout.stage}, bank ${payout.bank}) ${this.outcome}${this.crash ? ", webhook dying after D1" : ""}`;
    if (!hasLiveRow(payout)) {
      expectEqual(world, `${what}: no such payout`, response.status, 404);
      this.note(world, `${what} → 404`);
      return;
    }
    if (payout.stage === "pending") {
      // The sandbox submits a pending payout first, through the queue's code.
      payout.stage = "processing";
      payout.submitted = true;
      payout.bank = "processing";
    }
    if (payout.stage !== "processing" || payout.bank !== "processing") {
      expectEqual(world, `${what}: the bank is not processing it`, response.status, 422);
      this.note(world, `${what} → 422`);
      return;
    }
    expectEqual(world, `${what}: the sandbox's answer`, response.status, 200);
    const delivery = ((await response.json()) as { delivery: { status: number } }).delivery.status;
    if (this.outcome === "transient") {
      expectEqual(world, `${what}: the webhook's answer`, delivery, 200);
      payout.bank = "retry";
      payout.submitted = false;
      this.note(world, `${what} → to be submitted again`);
      return;
    }
    const reachesObject = payout.kind === "payout";
    expectEqual(world, `${what}: the webhook's answer`, delivery, this.crash ? 500 : 200);
    if (this.outcome === "completed") {
      payout.bank = "completed";
      completePayout(world, payout, reachesObject && !this.crash);
    } else {
      payout.bank = "failed";
      releasePayout(world, payout, "failed", reachesObject && !this.crash);
    }
    this.note(world, `${what} → ${this.outcome}${this.crash && reachesObject ? "; the object waits for the repair job" : ""}`);
  }

  toString(): string {
    return `settleAtBank(payout ${this.payout}, ${this.outcome}${this.crash ? ", crash after_ledger" : ""})`;
  }
}

/**
 * Bank events that contradict a completion: a second payout.completed with another
 * bank_transaction_id, or a payout.completed for a processing payout carrying the
 * bank_transaction_id of another, completed one. Same cause, different data: stored failed,
 * 422 (API §1, §6), and nothing moves.
 */
export class ConflictingCompletion extends SimCommand {
  constructor(
    readonly payout: number,
    readonly variant: "again" | "stolen",
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return world.payouts.some((payout) => payout.kind === "payout" && payout.stage === "completed");
  }

  protected async act(world: World): Promise<void> {
    const completed = world.payouts.filter((payout) => payout.kind === "payout" && payout.stage === "completed");
    const done = pick(completed, this.payout)!;
    const read = await api(`/v1/payouts/${done.id}`, { headers: bearer(world.merchants[done.merchant!]!.apiKey) });
    const bankTransactionId = ((await read.json()) as { bank_transaction_id: string | null }).bank_transaction_id;
    if (bankTransactionId === null) mismatch(world, `${done.label} is completed without a bank_transaction_id`);
    const victim = world.payouts.find((payout) => payout !== done && payout.stage === "processing" && payout.bank === "processing");
    const [target, carried, what] =
      this.variant === "stolen" && victim
        ? [victim, bankTransactionId, `payout.completed for ${victim.label} carrying ${done.label}'s bank_transaction_id`]
        : [done, uniqueId("bt"), `a second payout.completed for ${done.label} with another bank_transaction_id`];
    const event = { id: uniqueId("evt"), type: "payout.completed", created_at: new Date().toISOString(), data: { payout_id: target.id, bank_transaction_id: carried } };
    const response = await sendBankEvent(event);
    expectEqual(world, `${what}: same cause, different data`, response.status, 422);
    this.note(world, `${what} → 422, nothing moves`);
  }

  toString(): string {
    return `conflictingCompletion(payout ${this.payout}, ${this.variant})`;
  }
}


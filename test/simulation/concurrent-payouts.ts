/**
 * Payouts racing (API §7: "no balance's available ever goes below zero under any
 * concurrency"): two or three payouts sent at once, on customers and merchants they may
 * share. Each request is two atomic steps — the customer's object reserves (or refuses),
 * then D1 takes it for the merchant (or rejects it, and the object releases) — and the
 * runtime may interleave those steps in any order. The model enumerates every interleaving
 * and accepts the answers only if one of them produces exactly those answers; the balances
 * are then checked as after any step.
 */
import { env } from "cloudflare:workers";
import { api, bearer } from "../helpers";
import { uniqueId } from "../money";
import { mismatch } from "./checks";
import { SimCommand } from "./command";
import { reserveMerchant, reserveObject } from "./effects";
import { payoutIdFromLog } from "./payout-commands";
import { customerD1Available } from "./pending";
import { pick, type SimPayout, type World } from "./world";

interface Request {
  merchant: number;
  customer: number;
  amount: number;
}

/** Every vector of answers (201 or 422 per request) that some interleaving of the steps gives. */
export function possibleAnswers(world: World, requests: Request[]): Set<string> {
  const found = new Set<string>();
  const explore = (customers: Map<number, number>, merchants: Map<number, number>, mirrors: Map<number, number>, phases: number[], answers: number[]) => {
    if (phases.every((phase) => phase === 2)) {
      found.add(JSON.stringify(answers));
      return;
    }
    requests.forEach((request, i) => {
      if (phases[i] === 2) return;
      const nextCustomers = new Map(customers);
      const nextMerchants = new Map(merchants);
      const nextMirrors = new Map(mirrors);
      const nextPhases = [...phases];
      const nextAnswers = [...answers];
      if (phases[i] === 0) {
        // The customer's object: reserve if available covers it.
        if (customers.get(request.customer)! >= request.amount) {
          nextCustomers.set(request.customer, customers.get(request.customer)! - request.amount);
          nextPhases[i] = 1;
        } else {
          nextAnswers[i] = 422;
          nextPhases[i] = 2;
        }
      } else {
        // D1: the merchant's available and the customer's D1 copy cover it, or it is rejected
        // and the object releases.
        if (merchants.get(request.merchant)! >= request.amount && mirrors.get(request.customer)! >= request.amount) {
          nextMerchants.set(request.merchant, merchants.get(request.merchant)! - request.amount);
          nextMirrors.set(request.customer, mirrors.get(request.customer)! - request.amount);
          nextAnswers[i] = 201;
        } else {
          nextCustomers.set(request.customer, customers.get(request.customer)! + request.amount);
          nextAnswers[i] = 422;
        }
        nextPhases[i] = 2;
      }
      explore(nextCustomers, nextMerchants, nextMirrors, nextPhases, nextAnswers);
    });
  };
  const customers = new Map(requests.map((request) => [request.customer, world.customers[request.customer]!.object.available]));
  const merchants = new Map(requests.map((request) => [request.merchant, world.merchants[request.merchant]!.d1.available]));
  const mirrors = new Map(requests.map((request) => [request.customer, customerD1Available(world, request.customer)]));
  explore(customers, merchants, mirrors, requests.map(() => 0), requests.map(() => 0));
  return found;
}

export class ConcurrentPayouts extends SimCommand {
  constructor(
    readonly pairs: number[],
    readonly amounts: number[],
  ) {
    super();
  }

  protected async act(world: World): Promise<void> {
    const pairs = world.links
      .map((key) => key.split(":").map(Number) as [number, number])
      .filter(([, customer]) => world.customers[customer]!.id !== null);
    const requests: Request[] = this.pairs.map((index, i) => {
      const [merchant, customer] = pick(pairs, index)!;
      return { merchant, customer, amount: this.amounts[i % this.amounts.length]! };
    });
    const payouts: SimPayout[] = [];
    for (const request of requests) {
      const label = `p${world.payouts.length}`;
      const key = uniqueId("sim-key");
      const target = world.customers[request.customer]!;
      const payout: SimPayout = {
        label,
        id: null, // known once the request started, below
        kind: "payout",
        merchant: request.merchant,
        customer: request.customer,
        amount: request.amount,
        key,
        rawBody: JSON.stringify({ customer_id: target.id, amount: request.amount, currency: "ARS", destination_cbu: target.cbu, description: `sim ${label}` }),
        transfer: null,
        stage: "refused",
        submitted: false,
        bank: "none",
        answer: 422,
        keyRetired: false,
      };
      world.payouts.push(payout);
      payouts.push(payout);
    }
    const possible = possibleAnswers(world, requests);
    const responses = await Promise.all(
      payouts.map((payout) =>
        api("/v1/payouts", {
          method: "POST",
          headers: { ...bearer(world.merchants[payout.merchant!]!.apiKey), "content-type": "application/json", "idempotency-key": payout.key! },
          body: payout.rawBody!,
        }),
      ),
    );
    for (const payout of payouts) payout.id ??= await payoutIdFromLog(world.merchants[payout.merchant!]!.id, payout.key!);
    const answers = responses.map((response) => response.status);
    const what = `${payouts.length} payouts at once: ${payouts
      .map((payout) => `${payout.label} ${world.merchants[payout.merchant!]!.label} pays ${payout.amount} of ${world.customers[payout.customer!]!.label}`)
      .join(", ")}`;
    if (!possible.has(JSON.stringify(answers))) {
      mismatch(world, `${what}: answered ${JSON.stringify(answers)}; some order of the steps gives ${[...possible].join(" or ")}`);
    }
    for (const [i, payout] of payouts.entries()) {
      if (answers[i] !== 201) {
        // Refused by the object, or rejected by D1: nothing moved either way; D1 says which.
        const row = await env.DB.prepare("SELECT status FROM payouts WHERE id = ?").bind(payout.id).first<{ status: string }>();
        payout.stage = row?.status === "rejected" ? "rejected" : "refused";
        continue;
      }
      const body = (await responses[i]!.json()) as { id: string; amount: number };
      if (body.id !== payout.id || body.amount !== payout.amount) mismatch(world, `${what}: ${payout.label}'s 201 says ${JSON.stringify(body)}`);
      reserveObject(world, payout.customer!, payout.amount);
      reserveMerchant(world, payout.merchant!, payout.amount);
      payout.stage = "pending";
      payout.answer = 201;
    }
    this.note(world, `${what} → ${answers.join(", ")}`);
  }

  toString(): string {
    return `concurrentPayouts(pairs ${this.pairs.join("/")}, amounts ${this.amounts.join("/")})`;
  }
}

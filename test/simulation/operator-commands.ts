/**
 * What the operator and the platform's background work do (API §5 quarantine, §9
 * reconciliation), and the repairs: assigning a quarantined cash-in, returning it to its
 * sender, reconciling today (recovering dropped webhooks), a customer object's alarm, the
 * repair job, and the invariants.
 */
import { env } from "cloudflare:workers";
import { loadConfig } from "../../src/env";
import { armFault } from "../../src/faults";
import { reconciliationStep } from "../../src/reconciliation/step";
import { api, json, operatorHeaders } from "../helpers";
import { finishReconciliation, runAccountAlarm, today } from "../money";
import { checkInvariants, expectEqual, mismatch } from "./checks";
import { problemCode, SimCommand } from "./command";
import { creditMerchant, creditObject, recordPayment } from "./effects";
import { runAlarm, runRepair } from "./pending";
import { paidThrough, pick, type SimPayout, type SimTransfer, type World } from "./world";

function quarantined(world: Readonly<World>): SimTransfer[] {
  return world.transfers.filter((transfer) => transfer.stage === "recorded" && transfer.versions.find((version) => version.fate === "standing")?.route.kind === "quarantine");
}

function existingCustomers(world: Readonly<World>): number[] {
  return world.customers.flatMap((customer, index) => (customer.id !== null ? [index] : []));
}

export class AssignQuarantined extends SimCommand {
  /** `again`: the pair of the last assignment tried for this payment, if any (an operator retrying). */
  constructor(
    readonly transfer: number,
    readonly customer: number,
    readonly merchant: number,
    readonly again: boolean,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return quarantined(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const transfer = pick(quarantined(world), this.transfer)!;
    const retried = this.again ? transfer.lastAssignment : null;
    const customer = retried?.customer ?? pick(existingCustomers(world), this.customer)!;
    const merchant = retried?.merchant ?? this.merchant % world.merchants.length;
    transfer.lastAssignment = { customer, merchant };
    const response = await api(
      `/v1/admin/quarantine/${transfer.paymentId}/assign`,
      json({ customer_id: world.customers[customer]!.id, merchant_id: world.merchants[merchant]!.id }, operatorHeaders()),
    );
    const amount = transfer.versions.find((version) => version.fate === "standing")!.amount;
    const what = `assign ${transfer.label} (${transfer.status}${transfer.liveReturn !== null ? ", return live" : ""}) to ${world.customers[customer]!.label} via ${world.merchants[merchant]!.label}`;
    if (transfer.assigned) {
      const same = transfer.assigned.customer === customer && transfer.assigned.merchant === merchant;
      expectEqual(world, `${what}: already assigned ${same ? "to this pair" : "elsewhere"}`, response.status, same ? 200 : 422);
      this.note(world, `${what} → ${response.status}, nothing moves`);
      return;
    }
    if (transfer.status !== "quarantined" || transfer.liveReturn !== null) {
      expectEqual(world, `${what}: not assignable now`, [response.status, await problemCode(response)], [422, "invalid_state"]);
      this.note(world, `${what} → 422 invalid_state`);
      return;
    }
    expectEqual(world, `${what}: the answer`, response.status, 200);
    creditObject(world, customer, amount);
    creditMerchant(world, merchant, amount);
    world.suspense.posted -= amount;
    world.suspense.available -= amount;
    transfer.status = "credited";
    transfer.assigned = { customer, merchant };
    paidThrough(world, merchant, customer);
    this.note(world, `${what} → 200: ${amount} out of suspense`);
  }

  toString(): string {
    return `assignQuarantined(transfer ${this.transfer}, ${this.again ? "the last pair tried, else " : ""}customer ${this.customer}, merchant ${this.merchant})`;
  }
}

export class ReturnQuarantined extends SimCommand {
  constructor(readonly transfer: number) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return quarantined(world).length > 0;
  }

  protected async act(world: World): Promise<void> {
    const transfer = pick(quarantined(world), this.transfer)!;
    const response = await api(`/v1/admin/quarantine/${transfer.paymentId}/return`, { method: "POST", headers: operatorHeaders() });
    const what = `return ${transfer.label} (${transfer.status}) to its sender`;
    if (transfer.liveReturn !== null) {
      const live = world.payouts[transfer.liveReturn]!;
      expectEqual(world, `${what}: a return is live`, response.status, 202);
      expectEqual(world, `${what}: the live return`, ((await response.json()) as { payout: { id: string } }).payout.id, live.id);
      this.note(world, `${what} → 202, the live return ${live.label}`);
      return;
    }
    if (transfer.status !== "quarantined") {
      expectEqual(world, `${what}: not quarantined`, [response.status, await problemCode(response)], [422, "invalid_state"]);
      this.note(world, `${what} → 422 invalid_state`);
      return;
    }
    if (response.status !== 202) mismatch(world, `${what}: expected 202, got ${response.status} ${await response.text()}`);
    const { payout } = (await response.json()) as { payout: { id: string; status: string; amount: number } };
    const amount = transfer.versions.find((version) => version.fate === "standing")!.amount;
    expectEqual(world, `${what}: the return payout`, [payout.status, payout.amount], ["pending", amount]);
    const record: SimPayout = {
      label: `p${world.payouts.length}`,
      id: payout.id,
      kind: "return",
      merchant: null,
      customer: null,
      amount,
      key: null,
      rawBody: null,
      transfer: world.transfers.indexOf(transfer),
      stage: "pending",
      submitted: false,
      bank: "none",
      answer: 202,
      keyRetired: false,
    };
    world.payouts.push(record);
    transfer.liveReturn = world.payouts.length - 1;
    world.suspense.available -= amount;
    this.note(world, `${what} → 202: return ${record.label} reserves ${amount} of suspense`);
  }

  toString(): string {
    return `returnQuarantined(transfer ${this.transfer})`;
  }
}

/** Reconciles today against the sandbox bank's statement: dropped webhooks are recovered, once. */
export class ReconcileToday extends SimCommand {
  constructor(readonly crash: boolean) {
    super();
  }

  protected async act(world: World): Promise<void> {
    const started = await api("/v1/admin/reconciliations", json({ date: today() }, operatorHeaders()));
    expectEqual(world, "POST /v1/admin/reconciliations", started.status, 202);
    const { id } = (await started.json()) as { id: string };
    if (this.crash) {
      armFault("reconciliation.before_commit");
      const died = await reconciliationStep(env, loadConfig(env), id).then(
        () => false,
        () => true,
      );
      expectEqual(world, "a reconciliation step with a crash before its commit throws", died, true);
    }
    const report = await finishReconciliation(id);
    expectEqual(world, "the reconciliation's status", report.status, "completed");
    const recovered = world.transfers.filter((transfer) => transfer.source === "sandbox" && transfer.stage === "undelivered");
    for (const transfer of recovered) {
      const version = transfer.versions[0]!;
      recordPayment(world, transfer, version.route, version.amount, false);
    }
    this.note(world, `reconciled ${report.date}${this.crash ? " (a step died before its commit and ran again)" : ""}: recovered ${recovered.map((transfer) => transfer.label).join(", ") || "nothing of this run"}`);
  }

  toString(): string {
    return `reconcileToday(${this.crash ? "crash before_commit" : "no crash"})`;
  }
}

export class RunCustomerAlarm extends SimCommand {
  constructor(
    readonly customer: number,
    readonly crash: boolean,
  ) {
    super();
  }

  protected async act(world: World): Promise<void> {
    const customer = pick(existingCustomers(world), this.customer)!;
    if (!this.crash) {
      await runAlarm(world, customer, this.toString());
      return;
    }
    armFault("alarm.before_replay");
    const died = await runAccountAlarm(world.customers[customer]!.id!).then(
      () => false,
      () => true,
    );
    expectEqual(world, "an alarm dying before its replay throws", died, true);
    this.note(world, `alarm of ${world.customers[customer]!.label} died before replaying: nothing moves`);
  }

  toString(): string {
    return `runCustomerAlarm(customer ${this.customer}${this.crash ? ", crash before_replay" : ""})`;
  }
}

export class RunRepairJob extends SimCommand {
  protected async act(world: World): Promise<void> {
    await runRepair(world, this.toString());
  }

  toString(): string {
    return "runRepairJob()";
  }
}

export class CheckInvariants extends SimCommand {
  protected async act(world: World): Promise<void> {
    if (world.pending.length > 0) this.note(world, "skipped: a repair is pending");
    await checkInvariants(world);
  }

  toString(): string {
    return "checkInvariants()";
  }
}

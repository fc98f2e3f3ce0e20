/**
 * transfer.reversed (API §6, §7): the bank claws a credit back. It debits whoever holds the
 * payment (the customer and the merchant, the merchant's funds only, or suspense), even
 * below zero — the one way a balance may go negative — once per payment: the same
 * reversal again answers 200 and moves nothing, another reversal_id is refused (422).
 */
import { sendBankEvent, uniqueId } from "../money";
import { expectEqual } from "./checks";
import { SimCommand } from "./command";
import { debitMerchant, debitObject } from "./effects";
import { pick, type World } from "./world";

export class ReverseTransfer extends SimCommand {
  /** `repeat`: the bank sends the last reversal of this transfer again (under a new event id). */
  constructor(
    readonly transfer: number,
    readonly repeat: boolean,
  ) {
    super();
  }

  override check(world: Readonly<World>): boolean {
    return world.transfers.length > 0;
  }

  protected async act(world: World): Promise<void> {
    const transfer = pick(world.transfers, this.transfer)!;
    const last = this.repeat ? transfer.lastReversal : null;
    const reversalId = last?.reversalId ?? uniqueId("rev");
    const event = {
      id: uniqueId("evt"),
      type: "transfer.reversed",
      created_at: new Date().toISOString(),
      data: { bank_transaction_id: transfer.bankTransactionId, reversal_id: reversalId, reason: "chargeback" },
    };
    transfer.lastReversal = { reversalId, event };
    const response = await sendBankEvent(event);
    const what = `${last ? "repeated " : ""}reversal ${reversalId} of ${transfer.label} (${transfer.stage}, ${transfer.status}${transfer.liveReturn !== null ? ", return live" : ""})`;

    if (transfer.reversalId !== null) {
      const same = transfer.reversalId === reversalId;
      expectEqual(world, `${what}: already reversed by ${transfer.reversalId}`, response.status, same ? 200 : 422);
      this.note(world, `${what} → ${response.status}, nothing moves`);
      return;
    }
    const refusal =
      transfer.stage !== "recorded"
        ? "no payment in D1 yet"
        : transfer.status === "returned"
          ? "returned to its sender"
          : transfer.status === "quarantined" && transfer.liveReturn !== null
            ? "a return is under way"
            : null;
    if (refusal) {
      // No payment yet is not refused for good: the bank is told to redeliver (500).
      const status = transfer.stage !== "recorded" ? 500 : 422;
      expectEqual(world, `${what}: ${refusal}`, response.status, status);
      this.note(world, `${what} → ${status} (${refusal}), nothing moves`);
      return;
    }
    expectEqual(world, `${what}: the answer`, response.status, 200);
    const standing = transfer.versions.find((version) => version.fate === "standing")!;
    const amount = standing.amount;
    const owner = transfer.assigned ?? (standing.route.kind === "quarantine" ? null : standing.route);
    if (owner === null) {
      world.suspense.posted -= amount;
      world.suspense.available -= amount;
    } else {
      if ("customer" in owner) debitObject(world, owner.customer, amount);
      debitMerchant(world, owner.merchant, amount);
    }
    transfer.status = "reversed";
    transfer.reversalId = reversalId;
    this.note(world, `${what} → 200: ${amount} clawed back`);
  }

  toString(): string {
    return `reverseTransfer(transfer ${this.transfer}${this.repeat ? ", repeat the last" : ""})`;
  }
}

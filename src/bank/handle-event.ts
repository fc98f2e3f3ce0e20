/**
 * Applying a verified bank event (API §6). Every outcome is durable before it is answered:
 * applied (200), already applied (200, nothing changes), or stored as failed for the
 * operator (422). Nothing is dropped.
 */
import { and, eq } from "drizzle-orm";
import type { ZodType } from "zod";
import { receiveTransfer, type ReceiveOptions } from "../cashins/receive-transfer";
import { reverseTransfer } from "../cashins/reverse-transfer";
import { sha256Hex } from "../crypto";
import { database } from "../db/client";
import { payouts } from "../db/schema";
import type { Config, Env } from "../env";
import { enqueueSubmission } from "../payouts/create-payout";
import { finishPayout, type FinishResult } from "../payouts/finish-payout";
import { retryDelaySeconds } from "../payouts/submit-payout";
import {
  bankEventSchema,
  payoutCompletedSchema,
  payoutFailedSchema,
  transferReceivedSchema,
  transferReversedSchema,
} from "./events";
import { eventStatus, NotYetApplicableEvent, recordEventFailed, recordEventProcessed, type ReceivedEvent, UnprocessableEvent } from "./event-log";

export type EventResult = { status: "processed"; detail: string } | { status: "failed"; error: string };

function parse<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || what}: ${issue.message}`);
  throw new UnprocessableEvent(`malformed ${what}: ${issues.join("; ")}`);
}

/** The envelope, or a stand-in id for a body too broken to have one (so it is still stored). */
async function envelopeOf(rawBody: string, received_at: number): Promise<{ event: ReceivedEvent; data?: unknown; error?: string }> {
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    return { event: { id: `malformed_${(await sha256Hex(rawBody)).slice(0, 32)}`, type: "unknown", payload: rawBody, received_at }, error: "body is not JSON" };
  }
  const parsed = bankEventSchema.safeParse(json);
  if (!parsed.success) {
    // Keyed by the body, not by the id it claims: an invalid envelope's id cannot be trusted
    // ("" or one shared with another event), and a shared key would keep only the first
    // payload. The same broken body delivered again still lands on the same row.
    const id = `malformed_${(await sha256Hex(rawBody)).slice(0, 32)}`;
    const issues = parsed.error.issues.map((issue) => `${issue.path.join(".") || "event"}: ${issue.message}`).join("; ");
    return { event: { id, type: "unknown", payload: rawBody, received_at }, error: `malformed event: ${issues}` };
  }
  return { event: { id: parsed.data.id, type: parsed.data.type, payload: rawBody, received_at }, data: parsed.data.data };
}

/** `options.waitUntil` (the webhook route's): a cash-in answers once durable in the customer's object, D1 trailing. */
export async function handleBankEvent(env: Env, config: Config, rawBody: string, options: ReceiveOptions = {}): Promise<EventResult> {
  const { event, data, error } = await envelopeOf(rawBody, Date.now());
  try {
    if (error !== undefined) throw new UnprocessableEvent(error);
    const detail = await apply(env, config, event, data, options);
    return { status: "processed", detail };
  } catch (failure) {
    if (failure instanceof NotYetApplicableEvent) {
      await recordEventFailed(env.DB, event, failure.message);
      throw failure; // a 500: the bank redelivers, and the operator sees it meanwhile
    }
    if (!(failure instanceof UnprocessableEvent)) throw failure; // a 500: the bank redelivers
    await recordEventFailed(env.DB, event, failure.message);
    return { status: "failed", error: failure.message };
  }
}

function finishFailure(payoutId: string, result: Exclude<FinishResult, { ok: true }>): string {
  const detail = result.reason === "conflict" ? `: ${result.detail} (exists_with_different_data)` : "";
  return `payout ${payoutId}: ${result.reason}${detail}${result.payout ? ` (status ${result.payout.status})` : ""}`;
}

async function apply(env: Env, config: Config, event: ReceivedEvent, data: unknown, options: ReceiveOptions): Promise<string> {
  switch (event.type) {
    case "transfer.received": {
      const transfer = parse(transferReceivedSchema, data, "transfer.received data");
      const { outcome } = await receiveTransfer(env, config, event, transfer, options);
      return outcome; // the event is recorded in the same write as the payment
    }
    case "payout.completed": {
      const { payout_id, bank_transaction_id } = parse(payoutCompletedSchema, data, "payout.completed data");
      const result = await finishPayout(env, payout_id, { kind: "completed", bank_transaction_id });
      if (!result.ok) throw new UnprocessableEvent(finishFailure(payout_id, result));
      await recordEventProcessed(env.DB, event);
      return result.replayed ? "duplicate" : "completed";
    }
    case "payout.failed": {
      const { payout_id, permanent, reason } = parse(payoutFailedSchema, data, "payout.failed data");
      if (permanent) {
        const result = await finishPayout(env, payout_id, { kind: "failed", reason });
        if (!result.ok) throw new UnprocessableEvent(finishFailure(payout_id, result));
        await recordEventProcessed(env.DB, event);
        return result.replayed ? "duplicate" : "failed";
      }
      // Not permanent: the bank wants it again. Forget the submission and queue a retry.
      // Unlike the other effects this one is not idempotent by itself: a repeat of an event
      // already applied must not forget a later submission, nor fail once the payout moved on.
      if ((await eventStatus(env.DB, event.id)) === "processed") return "duplicate";
      const retried = await database(env.DB)
        .update(payouts)
        .set({ submitted_at: null, updated_at: Date.now() })
        .where(and(eq(payouts.id, payout_id), eq(payouts.status, "processing")))
        .returning({ submit_attempts: payouts.submit_attempts })
        .get();
      if (!retried) throw new UnprocessableEvent(`payout ${payout_id} is not processing`);
      await enqueueSubmission(env, payout_id, retryDelaySeconds(retried.submit_attempts));
      await recordEventProcessed(env.DB, event);
      return "retrying";
    }
    case "transfer.reversed": {
      const reversal = parse(transferReversedSchema, data, "transfer.reversed data");
      return reverseTransfer(env, event, reversal); // the event was recorded with the reversal
    }
    default:
      throw new UnprocessableEvent(`unknown event type ${event.type}`);
  }
}

/**
 * transfer.reversed: the bank clawed a credit back. The customer and the merchant are debited
 * even below zero (what is below zero is owed, and the ledger records it), the payment is
 * marked reversed, once per payment, and the event is idempotent by its reversal_id.
 *   quarantined, or credited to a merchant only: one D1 batch
 *   credited to a customer: the customer's object debits first (with the projection in its
 *   outbox, as a cash-in does), then D1
 */
import { customerAccountStub } from "../accounts/customer-account";
import { applyProjection, type Projection } from "../accounts/projections";
import { groupCommit } from "../accounts/group-commit";
import { NotYetApplicableEvent, UnprocessableEvent, type ReceivedEvent } from "../bank/event-log";
import { dispatchAfterWrite, eventMerchantOf } from "../webhooks/dispatch-after-write";
import { paymentIdOf } from "./receive-transfer";
import type { Env } from "../env";
import type { PaymentRow } from "./payment-row";

export interface TransferReversal {
  bank_transaction_id: string;
  reversal_id: string;
  reason: string;
}

export async function reverseTransfer(env: Env, event: ReceivedEvent, reversal: TransferReversal): Promise<"reversed" | "duplicate"> {
  // A cash-in answered a moment ago may still be in this isolate's group commit: write it first.
  if (groupCommit.inFlightPayment(await paymentIdOf(reversal.bank_transaction_id))) await groupCommit.drain();
  const payment = await env.DB.prepare("SELECT * FROM payments WHERE bank_transaction_id = ?").bind(reversal.bank_transaction_id).first<PaymentRow>();
  if (!payment) {
    // Not refused for good: the cash-in may be on its way to D1 (another isolate's group, or
    // its customer's alarm), or its webhook was lost and reconciliation will recover it. The
    // bank redelivers a 500; the operator sees the event as failed until then.
    throw new NotYetApplicableEvent(`no payment for bank_transaction_id ${reversal.bank_transaction_id} yet (a cash-in on its way to D1, or one reconciliation will recover); the bank's redelivery will apply it`);
  }
  if (payment.status === "reversed" && payment.reversal_id !== reversal.reversal_id) {
    throw new UnprocessableEvent(`payment ${payment.id} was already reversed by ${payment.reversal_id}`);
  }
  if (payment.status === "returned") throw new UnprocessableEvent(`payment ${payment.id} was already returned to its sender`);

  const projection: Projection = {
    kind: "payment.reversed",
    op_id: `${payment.id}:reversal`,
    payment_id: payment.id,
    reversal_id: reversal.reversal_id,
    status_before: payment.status === "reversed" ? "credited" : payment.status,
    customer_id: payment.customer_id,
    merchant_id: payment.merchant_id,
    amount: payment.amount,
    currency: payment.currency,
    event,
  };
  let stored: Projection = projection;
  if (payment.customer_id) {
    const debit = await customerAccountStub(env, payment.customer_id).debit({
      op_id: projection.op_id,
      amount: payment.amount,
      currency: payment.currency,
      merchant_id: payment.merchant_id,
      projection,
    });
    if (debit.outcome === "conflict") throw new UnprocessableEvent(`payment ${payment.id} was already reversed with other data`);
    stored = debit.projection;
  }
  const outcome = await applyProjection(env.DB, stored);
  await dispatchAfterWrite(env, [eventMerchantOf(stored, outcome)]);
  const after = await env.DB.prepare("SELECT reversal_id FROM payments WHERE id = ?").bind(payment.id).first<{ reversal_id: string | null }>();
  if (after?.reversal_id !== reversal.reversal_id) {
    throw new UnprocessableEvent(
      after?.reversal_id
        ? `payment ${payment.id} was reversed by ${after.reversal_id}`
        : `payment ${payment.id} changed while being reversed (assigned, or a return to its sender is under way): retry the event`,
    );
  }
  return payment.status === "reversed" ? "duplicate" : "reversed";
}

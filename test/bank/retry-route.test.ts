/**
 * POST /v1/admin/bank-events/{id}/retry: the retry itself working is a 200, whatever the event
 * does. An event that still cannot be applied (here a reversal of a cash-in the bank has not
 * sent yet, which throws NotYetApplicableEvent so that the bank's own webhook answers 500 and
 * redelivers) used to answer 500 from the operator's retry too.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, createCustomer, createMerchant, bearer, operatorHeaders } from "../helpers";
import { sendBankEvent, transferEvent, uniqueId } from "../money";

interface StoredEvent {
  id: string;
  status: "processed" | "failed";
  error: string | null;
  attempts: number;
}

function retry(id: string): Promise<Response> {
  return api(`/v1/admin/bank-events/${encodeURIComponent(id)}/retry`, { method: "POST", headers: { ...operatorHeaders(), "idempotency-key": uniqueId("idem") } });
}

async function storedRow(id: string) {
  return env.DB.prepare("SELECT status, error, attempts FROM bank_events WHERE id = ?").bind(id).first<{ status: string; error: string | null; attempts: number }>();
}

/** A cash-in to a fresh merchant's customer (not sent yet) and a reversal of it (sent first: it fails). */
async function reversalBeforeItsCashIn() {
  const merchant = await createMerchant();
  const customer = await createCustomer(merchant.api_key);
  const details = (await (await api(`/v1/customers/${customer.id}/deposit-details`, { headers: bearer(merchant.api_key) })).json()) as { reference: string };
  const transfer = transferEvent({ amount: 5_000, concepto: details.reference });
  const reversal = {
    id: uniqueId("evt"),
    type: "transfer.reversed",
    created_at: new Date().toISOString(),
    data: { bank_transaction_id: transfer.data.bank_transaction_id, reversal_id: uniqueId("rev"), reason: "fraud" },
  };
  expect((await sendBankEvent(reversal)).status).toBe(500); // the bank's webhook: 500, so that the bank redelivers
  return { transfer, reversal };
}

describe("retrying a stored bank event", () => {
  it("answers 200 with the event still failed, its error and one more attempt, when it fails again", async () => {
    const { reversal } = await reversalBeforeItsCashIn();
    const before = await storedRow(reversal.id);
    expect(before).toMatchObject({ status: "failed", attempts: 1 });

    const response = await retry(reversal.id);
    expect(response.status).toBe(200);
    const event = (await response.json()) as StoredEvent;
    expect(event).toMatchObject({ id: reversal.id, status: "failed", attempts: 2 });
    expect(event.error).toMatch(/no payment for bank_transaction_id/);
    expect(await storedRow(reversal.id)).toMatchObject({ status: "failed", attempts: 2, error: event.error });

    // Again: each retry counts.
    const again = (await (await retry(reversal.id)).json()) as StoredEvent;
    expect(again).toMatchObject({ status: "failed", attempts: 3 });
  });

  it("answers 200 processed once the event applies", async () => {
    const { transfer, reversal } = await reversalBeforeItsCashIn();
    expect((await sendBankEvent(transfer)).status).toBe(200);
    const response = await retry(reversal.id);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: reversal.id, status: "processed" });
    const payment = await env.DB.prepare("SELECT status FROM payments WHERE bank_transaction_id = ?").bind(transfer.data.bank_transaction_id).first<{ status: string }>();
    expect(payment?.status).toBe("reversed");
    // A processed event is left alone: a further retry answers it unchanged.
    const repeat = await retry(reversal.id);
    expect(repeat.status).toBe(200);
    expect(await repeat.json()).toMatchObject({ status: "processed" });
  });

  it("answers 404 for an unknown id", async () => {
    const response = await retry("evt_never_stored_000");
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: "not_found" });
  });
});

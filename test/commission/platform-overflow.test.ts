/**
 * The platform's balance account sums every merchant's fees: it is the account that nears
 * 2^53 − 1 first. The group commit's overflow guard (and the entry trigger on the one-by-one
 * path) covers it like any credit-normal account: a cash-in whose fee would take it past the
 * ceiling is refused whole, and nothing moves. (Its own file: it fills the platform account of
 * this file's database.)
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createCustomer, createMerchant } from "../helpers";
import { balanceOf, depositReference, expectInvariants, merchantBalance, sendBankEvent, transferEvent } from "../money";
import { platformBalance, setPricing } from "./commission-helpers";

async function storedEvent(eventId: string) {
  return env.DB.prepare("SELECT status, error FROM bank_events WHERE id = ?").bind(eventId).first<{ status: string; error: string | null }>();
}

async function paymentCount(bankTransactionId: string): Promise<number> {
  return (await env.DB.prepare("SELECT COUNT(*) AS n FROM payments WHERE bank_transaction_id = ?").bind(bankTransactionId).first<{ n: number }>())!.n;
}

describe("a fee that would take the platform's balance past 2^53 − 1", () => {
  it("refuses the cash-in whole (group commit and one-by-one path); fee-less cash-ins still pass", async () => {
    const largest = 100_000_000_000_000; // 10^14, the largest amount the contract accepts
    // Every fee is the whole amount: the merchant nets nothing, the platform gains everything.
    const greedy = await createMerchant();
    await setPricing(greedy.id, 10_000);
    const customers = [];
    for (let index = 0; index < 10; index++) customers.push(await createCustomer(greedy.api_key));
    const references = await Promise.all(customers.map((customer) => depositReference(greedy.api_key, customer.id)));
    const start = await platformBalance();
    for (let round = 0; round < 9; round++) {
      const deliveries = references.map((reference) => sendBankEvent(transferEvent({ amount: largest, concepto: reference })));
      expect((await Promise.all(deliveries)).map((response) => response.status)).toEqual(Array(10).fill(200));
    }
    expect(await platformBalance()).toBe(start + 90n * BigInt(largest)); // 9.0e15 ≤ 2^53 − 1 ≈ 9.007e15
    expect(await merchantBalance(greedy.api_key)).toMatchObject({ available: 0 });

    // Customer route: the object acknowledges, the group commit refuses it whole a moment later.
    const over = transferEvent({ amount: largest, concepto: references[0]! });
    expect((await sendBankEvent(over)).status).toBe(200);
    expect(await storedEvent(over.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/past 9007199254740991/) });
    expect(await paymentCount(over.data.bank_transaction_id)).toBe(0);
    expect(await balanceOf(greedy.api_key, customers[0]!.id)).toMatchObject({ available: 9 * largest });

    // Merchant-only route (one batch, the entry trigger): 422.
    const merchantOnly = transferEvent({ amount: largest, concepto: greedy.reference, sender: { cuit: null, name: "x", cbu: null } });
    expect((await sendBankEvent(merchantOnly)).status).toBe(422);
    expect(await paymentCount(merchantOnly.data.bank_transaction_id)).toBe(0);
    expect(await platformBalance()).toBe(start + 90n * BigInt(largest));

    // A merchant without pricing does not touch the platform account: its cash-ins pass.
    const free = await createMerchant();
    const customer = await createCustomer(free.api_key);
    const fine = transferEvent({ amount: largest, concepto: await depositReference(free.api_key, customer.id) });
    expect((await sendBankEvent(fine)).status).toBe(200);
    expect(await merchantBalance(free.api_key)).toMatchObject({ available: largest });
    await expectInvariants();
  });
});

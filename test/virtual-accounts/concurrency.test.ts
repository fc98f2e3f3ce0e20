/**
 * Numbers are allocated by the database, never "max + 1" (API §11): concurrent creations get
 * distinct valid CVUs, every one registered; concurrent per_customer creations for one pair
 * collapse to one account.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { isValidCbu } from "../../src/domain/cbu";
import { isInCvuRange } from "../../src/domain/cvu";
import { createCustomer, createMerchant } from "../helpers";
import { uniqueId } from "../money";
import { createVirtualAccount, listVirtualAccounts, registeredAtBank, storedAccountsOf } from "./va-helpers";

describe("concurrent creations", () => {
  it("30 per_transaction accounts at once, over several customers: 30 distinct valid CVUs, all registered at the bank", async () => {
    const merchant = await createMerchant();
    const customers = await Promise.all([0, 1, 2].map(() => createCustomer(merchant.api_key)));
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        createVirtualAccount(merchant.api_key, { customer_id: customers[i % 3]!.id, kind: "per_transaction", expected_amount: 100 + i }, i % 2 === 0 ? uniqueId("va") : undefined),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(30).fill(201));
    const numbers = answers.map((answer) => answer.body.account_number);
    expect(new Set(numbers).size).toBe(30);
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(30);
    for (const number of numbers) {
      expect(isValidCbu(number)).toBe(true);
      expect(isInCvuRange(number, env.CVU_PSP_CODE!)).toBe(true);
      expect(await registeredAtBank(number)).toBe(true);
    }
    const listed = await listVirtualAccounts(merchant.api_key, "limit=7");
    expect(listed.map((account) => account.account_number).sort()).toEqual([...numbers].sort());
  });

  it("10 per_customer creations for one pair at once: one account, answered to all (one 201, the rest 200)", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key);
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createVirtualAccount(merchant.api_key, { customer_id: customer.id, kind: "per_customer" }, i % 2 === 0 ? uniqueId("va") : undefined)),
    );
    expect(new Set(answers.map((answer) => answer.body.id)).size).toBe(1);
    expect(answers.every((answer) => answer.body.status === "active")).toBe(true);
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(1);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(9);
    expect(await storedAccountsOf(merchant.id)).toHaveLength(1);
    expect(await registeredAtBank(answers[0]!.body.account_number)).toBe(true);
  });
});

/**
 * The chart of accounts of fund management (docs/MONEY.md, API §12): a merchant's balance
 * account, its reserve and the platform's balance account are real money, and the settlement
 * account equals their sum plus suspense; customers are the memo side, against attribution.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { balanceAccountId, ledgerAccountIdOfBalanceAccount, merchantAccount, platformAccountId, reserveAccount, customerAccount } from "../../src/ledger/accounts";
import { readBalanceAccount } from "../../src/ledger/balances";
import { createCustomer, createMerchant, randomCbu } from "../helpers";
import { expectInvariants, fund, sendBankEvent, transferEvent } from "../money";

describe("the chart of accounts", () => {
  it("a new merchant has a balance account and a reserve; the platform has its balance account", async () => {
    const merchant = await createMerchant();
    const merchantBa = balanceAccountId(merchantAccount(merchant.id, "ARS").id);
    const reserveBa = balanceAccountId(reserveAccount(merchant.id, "ARS").id);
    expect(await readBalanceAccount(env.DB, merchantBa)).toMatchObject({ id: merchantBa, owner_id: merchant.id, kind: "merchant", currency: "ARS", available: 0, reserved: 0 });
    expect(await readBalanceAccount(env.DB, reserveBa)).toMatchObject({ id: reserveBa, owner_id: merchant.id, kind: "reserve", currency: "ARS", available: 0, reserved: 0 });
    expect(await readBalanceAccount(env.DB, balanceAccountId(platformAccountId.platform("ARS")))).toMatchObject({ owner_id: "platform", kind: "platform" });
  });

  it("a customer's, the settlement's or a malformed id is no balance account", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    expect(await readBalanceAccount(env.DB, balanceAccountId(customerAccount(customer.id, "ARS").id))).toBeNull();
    expect(await readBalanceAccount(env.DB, balanceAccountId(platformAccountId.settlement("ARS")))).toBeNull();
    expect(await readBalanceAccount(env.DB, "ba_'; DROP TABLE x; --")).toBeNull();
    expect(ledgerAccountIdOfBalanceAccount("la_mabc_ars")).toBeNull();
    expect(ledgerAccountIdOfBalanceAccount("ba_mabc_ars")).toBe("la_mabc_ars");
  });

  it("a cash-in makes the merchant's balance account real money; suspense holds the quarantined; the equations hold", async () => {
    const merchant = await createMerchant();
    const customer = await createCustomer(merchant.api_key, { cbu: randomCbu() });
    await fund(merchant, customer.id, 12_345);
    expect((await sendBankEvent(transferEvent({ amount: 777, concepto: "no reference at all" }))).status).toBe(200);
    expect(await readBalanceAccount(env.DB, balanceAccountId(merchantAccount(merchant.id, "ARS").id))).toMatchObject({ available: 12_345, reserved: 0 });
    await expectInvariants();
  });
});

/**
 * The routing rules of API §5, pure: every lookup is a fake that records how it was called.
 * Codes are real ones from generateReference, so their check characters are valid.
 */
import { describe, expect, it } from "vitest";
import { routeTransfer, type RoutingLookups, type TransferFacts } from "../../src/cashins/route-transfer";
import type { VirtualAccountFacts } from "../../src/cashins/virtual-account-routing";
import { formatReference, generateReference, REFERENCE_ALPHABET } from "../../src/domain/reference-code";
import { dashedCuit, randomCbu, randomCuit } from "../helpers";

interface World {
  /** By account number; absent numbers are not of our range (null). */
  virtualAccounts?: Record<string, VirtualAccountFacts | "unknown">;
  /** What D1's compare-and-set answers (the account after it); by default it pays the claimant. */
  claim?: (account: VirtualAccountFacts, claim: { payment_id: string; amount: number; now: number }) => VirtualAccountFacts;
  customerReferences?: Record<string, { customer_id: string; merchant_id: string }>;
  merchantReferences?: Record<string, { merchant_id: string }>;
}

function fakeLookups(world: World) {
  const calls = {
    virtualAccount: [] as string[],
    claimVirtualAccount: [] as { account_id: string; payment_id: string; amount: number; now: number }[],
    customerReference: [] as string[],
    merchantReference: [] as string[],
    senderCustomer: [] as { cuit: string; name: string; cbu: string | null }[],
  };
  const lookups: RoutingLookups = {
    virtualAccount: async (accountNumber) => {
      calls.virtualAccount.push(accountNumber);
      return world.virtualAccounts?.[accountNumber] ?? null;
    },
    claimVirtualAccount: async (accountId, claim) => {
      calls.claimVirtualAccount.push({ account_id: accountId, ...claim });
      const account = Object.values(world.virtualAccounts ?? {}).find((candidate) => candidate !== "unknown" && candidate.id === accountId) as VirtualAccountFacts;
      return world.claim ? world.claim(account, claim) : { ...account, status: "paid", paid_by_payment_id: claim.payment_id, paid_amount: claim.amount };
    },
    customerReference: async (code) => {
      calls.customerReference.push(code);
      return world.customerReferences?.[code] ?? null;
    },
    merchantReference: async (code) => {
      calls.merchantReference.push(code);
      return world.merchantReferences?.[code] ?? null;
    },
    senderCustomer: async (sender) => {
      calls.senderCustomer.push(sender);
      return `cus_auto_${sender.cuit}`;
    },
  };
  return { lookups, calls };
}

const NOW = Date.parse("2026-11-28T12:00:00Z");

function transfer(overrides: Partial<TransferFacts> = {}): TransferFacts {
  return {
    payment_id: "pay_this",
    amount: 10_000,
    currency: "ARS",
    now: NOW,
    destination_account_number: null,
    concepto: null,
    sender: { cuit: null, name: null, cbu: null },
    ...overrides,
  };
}

function account(overrides: Partial<VirtualAccountFacts> = {}): VirtualAccountFacts {
  return {
    id: "va_1",
    kind: "per_customer",
    status: "active",
    customer_id: "cus_va",
    merchant_id: "mer_va",
    currency: "ARS",
    expected_amount: null,
    expires_at: null,
    amount_policy: null,
    paid_by_payment_id: null,
    paid_amount: null,
    ...overrides,
  };
}

/** The same code with its check character replaced by another alphabet symbol. */
function mistyped(code: string): string {
  const last = code.at(-1)!;
  const other = REFERENCE_ALPHABET[(REFERENCE_ALPHABET.indexOf(last) + 1) % REFERENCE_ALPHABET.length]!;
  return code.slice(0, -1) + other;
}

const VA = "0000003100012345678901";
const customerCode = generateReference("customer");
const otherCustomerCode = generateReference("customer");
const merchantCode = generateReference("merchant");
const otherMerchantCode = generateReference("merchant");
const world: World = {
  virtualAccounts: { [VA]: account() },
  customerReferences: {
    [customerCode]: { customer_id: "cus_ref", merchant_id: "mer_ref" },
    [otherCustomerCode]: { customer_id: "cus_other", merchant_id: "mer_ref" },
  },
  merchantReferences: { [merchantCode]: { merchant_id: "mer_m" }, [otherMerchantCode]: { merchant_id: "mer_other" } },
};

describe("rule order", () => {
  it("a virtual account beats any reference in the concepto", async () => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ destination_account_number: VA, concepto: `${customerCode} ${merchantCode}` }), lookups);
    expect(decision).toEqual({ kind: "customer", customer_id: "cus_va", merchant_id: "mer_va", matched_by: "virtual_account", virtual_account: { id: "va_1", pays: false, claimed_now: false } });
    expect(calls.virtualAccount).toEqual([VA]);
    expect(calls.customerReference).toEqual([]);
    expect(calls.merchantReference).toEqual([]);
  });

  it("an account number that is not ours falls through to the references", async () => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ destination_account_number: "2850590940090418135201", concepto: customerCode }), lookups);
    expect(decision).toEqual({ kind: "customer", customer_id: "cus_ref", merchant_id: "mer_ref", matched_by: "customer_reference" });
    expect(calls.virtualAccount).toEqual(["2850590940090418135201"]);
  });

  it("a customer reference beats a merchant reference, wherever each appears", async () => {
    for (const concepto of [`${merchantCode} ${customerCode}`, `${customerCode} ${merchantCode}`]) {
      const { lookups, calls } = fakeLookups(world);
      const decision = await routeTransfer(transfer({ concepto, sender: { cuit: randomCuit(), name: "Ana", cbu: null } }), lookups);
      expect(decision).toEqual({ kind: "customer", customer_id: "cus_ref", merchant_id: "mer_ref", matched_by: "customer_reference" });
      expect(calls.senderCustomer).toEqual([]);
    }
  });

  it("quarantines when nothing matches, without inventing a customer", async () => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: "regalo de cumple", sender: { cuit: randomCuit(), name: "Ana", cbu: null } }), lookups);
    expect(decision).toMatchObject({ kind: "quarantine" });
    expect(calls.senderCustomer).toEqual([]);
  });

  it.each([["null", null], ["empty", ""]])("quarantines a %s concepto with no account number", async (_label, concepto) => {
    const { lookups } = fakeLookups(world);
    expect(await routeTransfer(transfer({ concepto }), lookups)).toMatchObject({ kind: "quarantine" });
  });
});

describe("reading references", () => {
  it.each([
    ["lower case", (code: string) => code.toLowerCase()],
    ["display form with dashes", (code: string) => formatReference(code)],
    ["spaces between every symbol", (code: string) => code.split("").join(" ")],
    ["mixed case, spaces and dashes", (code: string) => formatReference(code).toLowerCase().replace("-", " - ")],
    ["glued to surrounding words", (code: string) => `alquiler${code.toLowerCase()}gracias`],
  ])("finds a customer reference written in %s", async (_label, write) => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `pago ${write(customerCode)} noviembre` }), lookups);
    expect(decision).toEqual({ kind: "customer", customer_id: "cus_ref", merchant_id: "mer_ref", matched_by: "customer_reference" });
    expect(calls.customerReference).toEqual([customerCode]); // looked up normalized
  });

  it("finds a merchant reference written in lower case with dashes", async () => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: formatReference(merchantCode).toLowerCase() }), lookups);
    expect(decision).toEqual({ kind: "merchant_only", merchant_id: "mer_m", matched_by: "merchant_reference" });
    expect(calls.merchantReference).toEqual([merchantCode]);
  });

  it("quarantines a mistyped reference (wrong check character) even next to a valid merchant reference", async () => {
    const typo = mistyped(customerCode);
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${typo} ${merchantCode}`, sender: { cuit: randomCuit(), name: "Ana", cbu: null } }), lookups);
    expect(decision.kind).toBe("quarantine");
    expect(decision.kind === "quarantine" && decision.reason).toContain(typo);
    expect(calls.merchantReference).toEqual([]);
    expect(calls.senderCustomer).toEqual([]);
  });

  it("quarantines a mistyped reference even next to a valid customer reference", async () => {
    const { lookups } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${customerCode} ${mistyped(merchantCode)}` }), lookups);
    expect(decision.kind).toBe("quarantine");
  });

  it("quarantines a mistyped merchant reference alone, rather than guessing", async () => {
    const { lookups } = fakeLookups(world);
    expect((await routeTransfer(transfer({ concepto: mistyped(merchantCode) }), lookups)).kind).toBe("quarantine");
  });

  it("quarantines references of two different customers", async () => {
    const { lookups } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${customerCode} y ${otherCustomerCode}` }), lookups);
    expect(decision).toMatchObject({ kind: "quarantine", reason: expect.stringMatching(/several customers/) });
  });

  it("accepts the same customer reference written twice", async () => {
    const { lookups } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${customerCode} (${formatReference(customerCode)})` }), lookups);
    expect(decision).toMatchObject({ kind: "customer", customer_id: "cus_ref" });
  });

  it("quarantines references of two different merchants", async () => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${merchantCode} ${otherMerchantCode}`, sender: { cuit: randomCuit(), name: "Ana", cbu: null } }), lookups);
    expect(decision).toMatchObject({ kind: "quarantine", reason: expect.stringMatching(/several merchants/) });
    expect(calls.senderCustomer).toEqual([]);
  });

  it("lets an unknown (valid but never issued) customer reference fall through to a merchant reference", async () => {
    const unknown = generateReference("customer");
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${unknown} ${merchantCode}` }), lookups);
    expect(decision).toEqual({ kind: "merchant_only", merchant_id: "mer_m", matched_by: "merchant_reference" });
    expect(calls.customerReference).toEqual([unknown]);
  });

  it("lets an unknown customer reference next to a known one route to the known one", async () => {
    const unknown = generateReference("customer");
    const { lookups } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${unknown} ${customerCode}` }), lookups);
    expect(decision).toMatchObject({ kind: "customer", customer_id: "cus_ref", matched_by: "customer_reference" });
  });

  it("quarantines when every reference is valid but unknown", async () => {
    const { lookups } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: `${generateReference("customer")} ${generateReference("merchant")}` }), lookups);
    expect(decision.kind).toBe("quarantine");
  });
});

describe("a merchant reference and the sender", () => {
  it("routes to the sender's customer, looked up by normalized CUIT and CBU", async () => {
    const cuit = randomCuit();
    const cbu = randomCbu();
    const dashedCbu = `${cbu.slice(0, 8)}-${cbu.slice(8)}`;
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: merchantCode, sender: { cuit: dashedCuit(cuit), name: "  Ana Pérez ", cbu: dashedCbu } }), lookups);
    expect(decision).toEqual({ kind: "customer", customer_id: `cus_auto_${cuit}`, merchant_id: "mer_m", matched_by: "merchant_reference" });
    expect(calls.senderCustomer).toEqual([{ cuit, name: "Ana Pérez", cbu }]);
  });

  it("passes an invalid CBU as null (the customer is still found by CUIT)", async () => {
    const cuit = randomCuit();
    const cbu = randomCbu();
    const badCbu = cbu.slice(0, 21) + String((Number(cbu[21]) + 1) % 10);
    const { lookups, calls } = fakeLookups(world);
    await routeTransfer(transfer({ concepto: merchantCode, sender: { cuit, name: "Ana", cbu: badCbu } }), lookups);
    expect(calls.senderCustomer).toEqual([{ cuit, name: "Ana", cbu: null }]);
  });

  it("names a sender without a name by its formatted CUIT", async () => {
    const cuit = randomCuit();
    for (const name of [null, "", "   "]) {
      const { lookups, calls } = fakeLookups(world);
      await routeTransfer(transfer({ concepto: merchantCode, sender: { cuit, name, cbu: null } }), lookups);
      expect(calls.senderCustomer).toEqual([{ cuit, name: dashedCuit(cuit), cbu: null }]);
    }
  });

  it.each([
    ["no CUIT", null],
    ["an empty CUIT", ""],
    ["a CUIT with a wrong check digit", "20123456780"],
    ["a CUIT too short", "2012345678"],
    ["a CUIT with dots", "20.12345678.6"],
    ["a CUIT with letters", "not-a-cuit"],
  ])("credits the merchant only when the sender has %s", async (_label, cuit) => {
    const { lookups, calls } = fakeLookups(world);
    const decision = await routeTransfer(transfer({ concepto: merchantCode, sender: { cuit, name: "Ana", cbu: randomCbu() } }), lookups);
    expect(decision).toEqual({ kind: "merchant_only", merchant_id: "mer_m", matched_by: "merchant_reference" });
    expect(calls.senderCustomer).toEqual([]);
  });
});

describe("rule 1: the outcomes of API §11", () => {
  const senderCbu = randomCbu();
  const sender = { cuit: null, name: "Ana", cbu: senderCbu };
  const route = async (va: VirtualAccountFacts | "unknown", overrides: Partial<TransferFacts> = {}, claim?: World["claim"]) => {
    const { lookups, calls } = fakeLookups({ ...world, virtualAccounts: { [VA]: va }, claim });
    const decision = await routeTransfer(transfer({ destination_account_number: VA, concepto: customerCode, sender, ...overrides }), lookups);
    return { decision, calls };
  };
  const perTransaction = (overrides: Partial<VirtualAccountFacts> = {}) =>
    account({ kind: "per_transaction", expected_amount: 10_000, expires_at: NOW + 60_000, amount_policy: "hold", ...overrides });

  it("a number of our range that routes to no account is quarantined, never routed by its concepto", async () => {
    const { decision, calls } = await route("unknown");
    expect(decision).toMatchObject({ kind: "quarantine", quarantine_reason: "unknown_virtual_account" });
    expect(decision).not.toHaveProperty("virtual_account_id");
    expect(calls.customerReference).toEqual([]);
  });

  it("a closed per_customer account quarantines (virtual_account_closed), whatever its policy", async () => {
    for (const amount_policy of [null, "accept", "reject"] as const) {
      const { decision } = await route(account({ status: "closed", amount_policy }));
      expect(decision).toEqual({ kind: "quarantine", quarantine_reason: "virtual_account_closed", reason: expect.any(String), virtual_account_id: "va_1" });
    }
  });

  it("an active per_customer account credits any amount, with no claim", async () => {
    const { decision, calls } = await route(account(), { amount: 1 });
    expect(decision).toMatchObject({ kind: "customer", virtual_account: { id: "va_1", pays: false } });
    expect(calls.claimVirtualAccount).toEqual([]);
  });

  it("an active per_transaction account with the expected amount is claimed, and the claimant pays it", async () => {
    const { decision, calls } = await route(perTransaction());
    expect(calls.claimVirtualAccount).toEqual([{ account_id: "va_1", payment_id: "pay_this", amount: 10_000, now: NOW }]);
    expect(decision).toEqual({ kind: "customer", customer_id: "cus_va", merchant_id: "mer_va", matched_by: "virtual_account", virtual_account: { id: "va_1", pays: true, claimed_now: true } });
  });

  it("an account with no expected amount is paid by any amount", async () => {
    const { decision } = await route(perTransaction({ expected_amount: null }), { amount: 77 });
    expect(decision).toMatchObject({ kind: "customer", virtual_account: { pays: true } });
  });

  it("a claim lost to another payment follows the policy as already_paid", async () => {
    const lost: World["claim"] = (va) => ({ ...va, status: "paid", paid_by_payment_id: "pay_other", paid_amount: 10_000 });
    expect((await route(perTransaction(), {}, lost)).decision).toMatchObject({ kind: "quarantine", quarantine_reason: "already_paid", virtual_account_id: "va_1" });
    expect((await route(perTransaction({ amount_policy: "accept" }), {}, lost)).decision).toMatchObject({ kind: "customer", virtual_account: { pays: false } });
  });

  it("a claim that finds the account expired or closed meanwhile follows the policy with that reason", async () => {
    expect((await route(perTransaction(), {}, (va) => ({ ...va, status: "closed" }))).decision).toMatchObject({ quarantine_reason: "virtual_account_closed" });
    expect((await route(perTransaction(), { now: NOW }, (va) => ({ ...va, expires_at: NOW }))).decision).toMatchObject({ quarantine_reason: "expired" });
  });

  it("a claim refused although the account is still payable (the transfer was recorded before) never credits", async () => {
    const { decision } = await route(perTransaction(), {}, (va) => va);
    expect(decision).toMatchObject({ kind: "quarantine", virtual_account_id: "va_1" });
  });

  it.each([
    ["a wrong amount", perTransaction(), { amount: 9_999 }, "amount_mismatch"],
    ["another currency", perTransaction(), { currency: "USD" }, "amount_mismatch"],
    ["an account already paid by another payment", perTransaction({ status: "paid", paid_by_payment_id: "pay_other", paid_amount: 10_000 }), {}, "already_paid"],
    ["an account expiring at the moment of routing", perTransaction({ expires_at: NOW }), {}, "expired"],
    ["an account expired before", perTransaction({ expires_at: NOW - 1 }), {}, "expired"],
    ["a closed account", perTransaction({ status: "closed" }), {}, "virtual_account_closed"],
  ] as const)("%s: hold quarantines, accept credits, reject returns to the sender — never claimed", async (_label, va, overrides, reason) => {
    const hold = await route({ ...va, amount_policy: "hold" }, overrides);
    expect(hold.decision).toEqual({ kind: "quarantine", quarantine_reason: reason, reason: expect.any(String), virtual_account_id: "va_1" });
    expect(hold.calls.claimVirtualAccount).toEqual([]);
    const byDefault = await route({ ...va, amount_policy: null }, overrides);
    expect(byDefault.decision).toEqual(hold.decision);
    const accept = await route({ ...va, amount_policy: "accept" }, overrides);
    expect(accept.decision).toEqual({ kind: "customer", customer_id: "cus_va", merchant_id: "mer_va", matched_by: "virtual_account", virtual_account: { id: "va_1", pays: false, claimed_now: false } });
    const reject = await route({ ...va, amount_policy: "reject" }, overrides);
    expect(reject.decision).toEqual({ kind: "quarantine", quarantine_reason: reason, reason: expect.any(String), virtual_account_id: "va_1", return_to: senderCbu });
  });

  it("one millisecond before expiry still pays", async () => {
    expect((await route(perTransaction({ expires_at: NOW + 1 }))).decision).toMatchObject({ kind: "customer", virtual_account: { pays: true } });
  });

  it("reject with no valid sender CBU holds instead, and says so", async () => {
    for (const cbu of [null, "", "123", senderCbu.slice(0, 21) + String((Number(senderCbu[21]) + 1) % 10)]) {
      const { decision } = await route(perTransaction({ amount_policy: "reject" }), { amount: 1, sender: { cuit: null, name: "Ana", cbu } });
      expect(decision).toEqual({ kind: "quarantine", quarantine_reason: "amount_mismatch", reason: expect.stringMatching(/no valid CBU/), virtual_account_id: "va_1" });
    }
  });

  it("the payment that paid the account is recognised again: same amount credits it as the payer, another amount is a conflict", async () => {
    const paid = perTransaction({ status: "paid", paid_by_payment_id: "pay_this", paid_amount: 10_000 });
    const again = await route(paid);
    expect(again.decision).toMatchObject({ kind: "customer", virtual_account: { id: "va_1", pays: true, claimed_now: false } });
    expect(again.calls.claimVirtualAccount).toEqual([]);
    // Even once the account has expired since, or been closed (a crash between the claim and the credit).
    expect((await route({ ...paid, expires_at: NOW - 1 })).decision).toMatchObject({ kind: "customer", virtual_account: { pays: true } });
    expect((await route(paid, { amount: 10_001 })).decision).toMatchObject({ kind: "conflict", reason: expect.stringMatching(/exists_with_different_data/) });
  });
});

describe("quarantine reasons of rules 2–4", () => {
  it.each([
    ["a mistyped reference", () => mistyped(customerCode), "malformed_reference"],
    ["two customers", () => `${customerCode} ${otherCustomerCode}`, "several_customers"],
    ["two merchants", () => `${merchantCode} ${otherMerchantCode}`, "several_merchants"],
    ["nothing", () => "hola", "no_match"],
  ])("%s → %s", async (_label, concepto, reason) => {
    const { lookups } = fakeLookups(world);
    expect(await routeTransfer(transfer({ concepto: concepto() }), lookups)).toMatchObject({ kind: "quarantine", quarantine_reason: reason });
  });
});

/**
 * The routing rules of API §5, pure: every lookup is a fake that records how it was called.
 * Codes are real ones from generateReference, so their check characters are valid.
 */
import { describe, expect, it } from "vitest";
import { routeTransfer, type RoutingLookups, type TransferFacts } from "../../src/cashins/route-transfer";
import { formatReference, generateReference, REFERENCE_ALPHABET } from "../../src/domain/reference-code";
import { dashedCuit, randomCbu, randomCuit } from "../helpers";

interface World {
  virtualAccounts?: Record<string, { customer_id: string; merchant_id: string }>;
  customerReferences?: Record<string, { customer_id: string; merchant_id: string }>;
  merchantReferences?: Record<string, { merchant_id: string }>;
}

function fakeLookups(world: World) {
  const calls = {
    virtualAccount: [] as string[],
    customerReference: [] as string[],
    merchantReference: [] as string[],
    senderCustomer: [] as { cuit: string; name: string; cbu: string | null }[],
  };
  const lookups: RoutingLookups = {
    virtualAccount: async (accountNumber) => {
      calls.virtualAccount.push(accountNumber);
      return world.virtualAccounts?.[accountNumber] ?? null;
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

function transfer(overrides: Partial<TransferFacts> = {}): TransferFacts {
  return { destination_account_number: null, concepto: null, sender: { cuit: null, name: null, cbu: null }, ...overrides };
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
  virtualAccounts: { [VA]: { customer_id: "cus_va", merchant_id: "mer_va" } },
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
    expect(decision).toEqual({ kind: "customer", customer_id: "cus_va", merchant_id: "mer_va", matched_by: "virtual_account" });
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

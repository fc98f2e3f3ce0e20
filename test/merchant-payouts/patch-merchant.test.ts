/** PATCH /v1/merchants/{id} { name?, webhook_url?, payout_cbu? } (API §3): the operator's edit of a merchant. */
import { describe, expect, it } from "vitest";
import { api, createMerchant, operatorHeaders, randomCbu } from "../helpers";
import { patchMerchant } from "./helpers";

async function problemOf(response: Response) {
  return (await response.json()) as { code: string; errors?: { path: string }[] };
}

describe("PATCH /v1/merchants/{id}", () => {
  it("sets payout_cbu (stored as 22 digits, dashes dropped), shows it on the merchant, and null clears it", async () => {
    const merchant = await createMerchant();
    const cbu = randomCbu();
    const dashed = `${cbu.slice(0, 8)}-${cbu.slice(8)}`;
    const set = await patchMerchant(merchant.id, { payout_cbu: dashed });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ id: merchant.id, payout_cbu: cbu });
    const read = await api(`/v1/merchants/${merchant.id}`, { headers: operatorHeaders() });
    expect(await read.json()).toMatchObject({ payout_cbu: cbu });
    const cleared = await patchMerchant(merchant.id, { payout_cbu: null });
    expect(await cleared.json()).toMatchObject({ payout_cbu: null });
    // Other fields are untouched by a payout_cbu change, and the other way round.
    const renamed = await patchMerchant(merchant.id, { name: "Nuevo nombre" });
    expect(await renamed.json()).toMatchObject({ name: "Nuevo nombre", payout_cbu: null });
  });

  it("refuses an invalid CBU, an empty body, unknown fields and a bad webhook_url, naming the field; changes nothing", async () => {
    const merchant = await createMerchant();
    const cbu = randomCbu();
    const wrongCheckDigit = cbu.slice(0, 21) + String((Number(cbu[21]) + 1) % 10);
    const cases: [unknown, string][] = [
      [{ payout_cbu: wrongCheckDigit }, "payout_cbu"],
      [{ payout_cbu: "123" }, "payout_cbu"],
      [{ payout_cbu: 1234567890123456789012 }, "payout_cbu"],
      [{ payout_cbu: `${cbu} ` }, "payout_cbu"],
      [{ reference: "MR-XXXX" }, "reference"],
      [{ payout_cbu: cbu, balance: 5 }, "balance"],
      [{ webhook_url: "http://10.0.0.1/hook" }, "webhook_url"],
      [{ webhook_url: "https://169.254.169.254/latest" }, "webhook_url"],
    ];
    for (const [body, field] of cases) {
      const response = await patchMerchant(merchant.id, body);
      expect(response.status, JSON.stringify(body)).toBe(400);
      const problem = await problemOf(response);
      expect(problem.code).toBe("invalid_request");
      expect(JSON.stringify(problem.errors ?? []), JSON.stringify(body)).toContain(field);
    }
    const empty = await patchMerchant(merchant.id, {});
    expect(empty.status).toBe(400);
    const read = await api(`/v1/merchants/${merchant.id}`, { headers: operatorHeaders() });
    expect(await read.json()).toMatchObject({ payout_cbu: null, webhook_url: null, name: "Test Merchant" });
    expect((await patchMerchant("mer_doesnotexist", { payout_cbu: cbu })).status).toBe(404);
    // Operator only.
    const asMerchant = await api(`/v1/merchants/${merchant.id}`, { method: "PATCH", headers: { authorization: `Bearer ${merchant.api_key}`, "content-type": "application/json" }, body: JSON.stringify({ payout_cbu: cbu }) });
    expect(asMerchant.status).toBe(403);
  });
});

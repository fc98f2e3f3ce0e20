/**
 * Content types (API §1, issue 8 item 7): a request is JSON when its media type (before any
 * `;`, trimmed, case-insensitive) is application/json, whatever its parameters; any other
 * media type, a `+json` suffix type included, is 415; none is ever a 500.
 */
import { describe, expect, it } from "vitest";
import { api, bearer, createMerchant, expectNoInternals, operatorHeaders, randomCuit } from "../helpers";
import { fundedCustomer, uniqueId } from "../money";

const jsonVariants = [
  "application/json",
  "application/json;",
  "application/json ; charset=utf-8",
  "application/json;charset=UTF-8",
  "APPLICATION/JSON",
  "Application/Json; Charset=\"utf-8\"",
  "application/json; charset=utf-8; foo",
  " application/json ",
];

const notJson = ["text/plain", "application/jsonx", "application/json-patch+json", "application/merge-patch+json", "application/vnd.api+json", "json", "application/", ";application/json"];

function post(path: string, contentType: string, body: string, headers: Record<string, string>): Promise<Response> {
  return api(path, { method: "POST", headers: { ...headers, "content-type": contentType }, body });
}

async function expectProblem(response: Response, status: number, code: string): Promise<{ code: string; errors?: Array<{ path: string }> }> {
  const text = await response.text();
  expect({ status: response.status, text }).toMatchObject({ status });
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  expectNoInternals(text);
  const problem = JSON.parse(text) as { code: string; errors?: Array<{ path: string }> };
  expect(problem.code).toBe(code);
  return problem;
}

describe.each(jsonVariants)("Content-Type %j is JSON", (contentType) => {
  it("creates a customer (201) and a merchant (201)", async () => {
    const merchant = await createMerchant();
    const customer = await post("/v1/customers", contentType, JSON.stringify({ cuit: randomCuit(), name: "Typed" }), bearer(merchant.api_key));
    expect(customer.status).toBe(201);
    const created = await post("/v1/merchants", contentType, JSON.stringify({ name: "Typed" }), { ...operatorHeaders(), "idempotency-key": uniqueId("ct") });
    expect(created.status).toBe(201);
  });

  it("creates a payout (201), and answers 400 naming the field or the body for a bad one", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const headers = { ...bearer(merchant.api_key), "idempotency-key": uniqueId("ct") };
    const payout = await post("/v1/payouts", contentType, JSON.stringify({ customer_id: customer.id, amount: 1_000 }), headers);
    expect(payout.status).toBe(201);

    const badField = await post("/v1/payouts", contentType, JSON.stringify({ customer_id: customer.id, amount: 1.5 }), { ...bearer(merchant.api_key), "idempotency-key": uniqueId("ct") });
    expect((await expectProblem(badField, 400, "invalid_request")).errors?.map((error) => error.path)).toEqual(["amount"]);

    const malformed = await post("/v1/payouts", contentType, '{"customer_id": ', { ...bearer(merchant.api_key), "idempotency-key": uniqueId("ct") });
    expect((await expectProblem(malformed, 400, "invalid_request")).errors?.map((error) => error.path)).toEqual(["body"]);

    const malformedCustomer = await post("/v1/customers", contentType, "{nope", bearer(merchant.api_key));
    await expectProblem(malformedCustomer, 400, "invalid_request");
  });
});

describe.each(notJson)("Content-Type %j is not JSON", (contentType) => {
  it("answers 415 unsupported_media_type on validated POSTs, and moves nothing", async () => {
    const { merchant, customer } = await fundedCustomer(10_000);
    const cuit = randomCuit();
    await expectProblem(await post("/v1/customers", contentType, JSON.stringify({ cuit, name: "Typed" }), bearer(merchant.api_key)), 415, "unsupported_media_type");
    await expectProblem(await post("/v1/merchants", contentType, JSON.stringify({ name: "Typed" }), operatorHeaders()), 415, "unsupported_media_type");
    const key = uniqueId("ct");
    const body = JSON.stringify({ customer_id: customer.id, amount: 1_000 });
    await expectProblem(await post("/v1/payouts", contentType, body, { ...bearer(merchant.api_key), "idempotency-key": key }), 415, "unsupported_media_type");
    const listed = await api(`/v1/customers?cuit=${cuit}`, { headers: bearer(merchant.api_key) });
    expect(((await listed.json()) as { data: unknown[] }).data).toEqual([]);
    // A 415 is refused before anything ran: the same key with a JSON body then runs.
    const fixed = await post("/v1/payouts", "application/json", body, { ...bearer(merchant.api_key), "idempotency-key": key });
    expect(fixed.status).toBe(201);
    expect(fixed.headers.get("idempotent-replayed")).toBeNull();
  });
});

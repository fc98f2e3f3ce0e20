import { env } from "cloudflare:workers";
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { ConfigError, loadConfig, type Env } from "../../src/env";
import { api, bearer, BASE_URL, createMerchant, expectNoInternals, json, operatorHeaders, randomCuit } from "../helpers";

type Problem = { type: string; title: string; status: number; detail: string; code: string; errors?: Array<{ path: string; message: string }> };

async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  const text = await response.text();
  expectNoInternals(text);
  const problem = JSON.parse(text) as Problem;
  expect(problem).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  return problem;
}

describe("request bodies", () => {
  it("answers 400 invalid_request to malformed JSON", async () => {
    const merchant = await createMerchant();
    const response = await api("/v1/customers", {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(merchant.api_key) },
      body: '{"cuit": "20',
    });
    await expectProblem(response, 400, "invalid_request");
  });

  it("answers 415 to a body that is not JSON", async () => {
    const merchant = await createMerchant();
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", undefined]) {
      const headers: Record<string, string> = { ...bearer(merchant.api_key) };
      if (contentType) headers["content-type"] = contentType;
      const response = await api("/v1/customers", { method: "POST", headers, body: `cuit=${randomCuit()}&name=x` });
      await expectProblem(response, 415, "unsupported_media_type");
    }
  });

  it("accepts JSON with a charset parameter", async () => {
    const merchant = await createMerchant();
    const response = await api("/v1/customers", {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", ...bearer(merchant.api_key) },
      body: JSON.stringify({ cuit: randomCuit(), name: "Charset" }),
    });
    expect(response.status).toBe(201);
  });

  it("answers 413 to a body over 1 MiB", async () => {
    const response = await api("/v1/merchants", json({ name: "x".repeat(1024 * 1024) }, operatorHeaders()));
    await expectProblem(response, 413, "payload_too_large");
  });

  it("names each unknown field in errors[].path", async () => {
    const merchant = await createMerchant();
    const response = await api("/v1/customers", json({ cuit: randomCuit(), name: "x", nickname: "y", balance: 100 }, bearer(merchant.api_key)));
    const problem = await expectProblem(response, 400, "invalid_request");
    expect(problem.errors?.map((error) => error.path).sort()).toEqual(["balance", "nickname"]);
  });

  it("names each field of the wrong type", async () => {
    const merchant = await createMerchant();
    const response = await api("/v1/customers", json({ cuit: ["20123456786"], name: null, cbu: 7 }, bearer(merchant.api_key)));
    const problem = await expectProblem(response, 400, "invalid_request");
    expect(problem.errors?.map((error) => error.path).sort()).toEqual(["cbu", "cuit", "name"]);
  });

  it("refuses a body that is JSON but not an object", async () => {
    const merchant = await createMerchant();
    for (const body of ["[]", '"text"', "null", "42"]) {
      const response = await api("/v1/customers", {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(merchant.api_key) },
        body,
      });
      await expectProblem(response, 400, "invalid_request");
    }
  });
});

describe("routing and headers", () => {
  it("answers an unknown route with a problem+json 404", async () => {
    const problem = await expectProblem(await api("/v1/nothing-here", { headers: operatorHeaders() }), 404, "not_found");
    expect(problem.detail).toContain("/v1/nothing-here");
    await expectProblem(await api("/nope"), 404, "not_found");
  });

  it("puts a Request-Id on every response, success or error", async () => {
    const merchant = await createMerchant();
    const responses = await Promise.all([
      api("/v1/merchant", { headers: bearer(merchant.api_key) }), // 200
      api("/v1/customers", json({ cuit: randomCuit(), name: "Id" }, bearer(merchant.api_key))), // 201
      api("/v1/customers", json({ cuit: "1" }, bearer(merchant.api_key))), // 400
      api("/v1/merchant"), // 401
      api("/v1/merchants", json({ name: "x" }, bearer(merchant.api_key))), // 403
      api("/v1/customers/cus_missing000", { headers: bearer(merchant.api_key) }), // 404
      api("/v1/customers", { method: "POST", headers: { "content-type": "text/plain", ...bearer(merchant.api_key) }, body: "x" }), // 415
      api("/openapi.json"),
      api("/docs"),
    ]);
    expect(responses.map((response) => response.status)).toEqual([200, 201, 400, 401, 403, 404, 415, 200, 200]);
    const ids = responses.map((response) => response.headers.get("request-id"));
    for (const id of ids) expect(id).toMatch(/^req_[0-9a-f]{24}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("configuration", () => {
  const good: Env = { ...env };

  it("accepts the test configuration", () => {
    expect(loadConfig(good)).toMatchObject({ settlementCbu: env.SETTLEMENT_CBU, currencies: ["ARS"] });
  });

  it.each([
    ["SETTLEMENT_CBU", { SETTLEMENT_CBU: "2850590940090418135200" }],
    ["SETTLEMENT_CBU", { SETTLEMENT_CBU: undefined }],
    ["ADMIN_API_KEY", { ADMIN_API_KEY: undefined }],
    ["ADMIN_API_KEY", { ADMIN_API_KEY: "short" }],
    ["BANK_WEBHOOK_SECRET", { BANK_WEBHOOK_SECRET: "" }],
    ["CURRENCIES", { CURRENCIES: "pesos" }],
    ["SANDBOX", { SANDBOX: "yes" }],
    ["WEBHOOK_SECRET_KEY", { WEBHOOK_SECRET_KEY: undefined }],
    ["WEBHOOK_SECRET_KEY", { WEBHOOK_SECRET_KEY: "" }],
    ["WEBHOOK_SECRET_KEY", { WEBHOOK_SECRET_KEY: "a_31_character_webhook_key_0123" }],
    ["WEBHOOK_RETRY_BASE_MS", { WEBHOOK_RETRY_BASE_MS: "soon" }],
    ["WEBHOOK_RETRY_BASE_MS", { WEBHOOK_RETRY_BASE_MS: "0" }],
    ["WEBHOOK_RETRY_BASE_MS", { WEBHOOK_RETRY_BASE_MS: "-5" }],
    ["WEBHOOK_RETRY_BASE_MS", { WEBHOOK_RETRY_BASE_MS: "1.5" }],
    ["WEBHOOK_RETRY_BASE_MS", { WEBHOOK_RETRY_BASE_MS: "3600001" }],
  ])("refuses a bad %s, naming it and not its value", (variable, change) => {
    const bad = { ...env, ...change } as Env;
    let thrown: unknown;
    try {
      loadConfig(bad);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    const problems = (thrown as ConfigError).problems.join("\n");
    expect(problems).toContain(variable);
    const value = Object.values(change)[0];
    if (value) expect(problems).not.toContain(value);
  });

  it("makes the Worker answer 503 unavailable, without leaking secrets", async () => {
    const bad = { ...env, SETTLEMENT_CBU: "not-a-cbu", ADMIN_API_KEY: undefined } as Env;
    const context = createExecutionContext();
    const response = await newApp().fetch(new Request(`${BASE_URL}/v1/merchant`, { headers: operatorHeaders() }), bad, context);
    await waitOnExecutionContext(context);
    const problem = await expectProblem(response, 503, "unavailable");
    expect(problem.detail).toContain("SETTLEMENT_CBU");
    expect(problem.detail).toContain("ADMIN_API_KEY");
    expect(problem.detail).not.toContain("not-a-cbu");
    expect(problem.detail).not.toContain(env.BANK_WEBHOOK_SECRET!);
    expect(response.headers.get("request-id")).toMatch(/^req_/);
  });

  it.each([
    ["WEBHOOK_SECRET_KEY", { WEBHOOK_SECRET_KEY: undefined }],
    ["WEBHOOK_SECRET_KEY", { WEBHOOK_SECRET_KEY: "too_short_webhook_key" }],
    ["WEBHOOK_RETRY_BASE_MS", { WEBHOOK_RETRY_BASE_MS: "a minute" }],
  ])("refuses to serve with a bad %s, naming it (503 unavailable)", async (variable, change) => {
    const bad = { ...env, ...change } as Env;
    const context = createExecutionContext();
    const response = await newApp().fetch(new Request(`${BASE_URL}/v1/merchants`, json({ name: "Never" }, operatorHeaders())), bad, context);
    await waitOnExecutionContext(context);
    const problem = await expectProblem(response, 503, "unavailable");
    expect(problem.detail).toContain(variable);
    const value = Object.values(change)[0];
    if (value) expect(problem.detail).not.toContain(value);
  });
});

import { describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { errorCatalog, errorCodes, type ErrorCode } from "../../src/errors";
import { exports } from "cloudflare:workers";
import { api, BASE_URL } from "../helpers";

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, { description?: string }>;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string }> };
}

// Pages for people, described in info.description rather than as operations.
const undocumented = new Set(["/openapi.json", "/docs", "/errors", "/"]);

/** Every (method, path) the app answers, from its own routing table, in OpenAPI form. */
function registeredRoutes(): Array<{ method: string; path: string }> {
  const seen = new Map<string, { method: string; path: string }>();
  for (const route of newApp().routes) {
    // app.use() entries are method ALL and/or wildcard paths: middleware, not operations.
    if (route.method === "ALL" || route.path.includes("*") || undocumented.has(route.path)) continue;
    // The operator console: a page for people and the HTML fragments its script loads, all
    // rendered from documented /v1 operations (src/console/api.ts); not operations themselves.
    if (route.path === "/console" || route.path.startsWith("/console/")) continue;
    const path = route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
    seen.set(`${route.method} ${path}`, { method: route.method.toLowerCase(), path });
  }
  return [...seen.values()];
}

async function fetchDocument(): Promise<OpenApiDocument> {
  const response = await api("/openapi.json");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("application/json");
  return (await response.json()) as OpenApiDocument;
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document, public", async () => {
    const document = await fetchDocument();
    expect(document.openapi).toMatch(/^3\.1\./);
    expect(document.info.title).toBeTruthy();
  });

  it("documents every route the app registers", async () => {
    const document = await fetchDocument();
    const routes = registeredRoutes();
    expect(routes.length).toBeGreaterThan(0);
    const missing = routes.filter((route) => document.paths[route.path]?.[route.method] === undefined);
    expect(missing).toEqual([]);
  });

  it("gives every operation a summary, a tag, a security requirement and responses", async () => {
    const document = await fetchDocument();
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(operation.summary, where).toBeTruthy();
        expect(operation.tags?.length, where).toBeGreaterThan(0);
        expect(operation.security?.length, where).toBeGreaterThan(0);
        expect(Object.keys(operation.responses ?? {}).length, where).toBeGreaterThan(0);
      }
    }
  });

  it("names the origin that served it as its server, whatever the host and port", async () => {
    const served = async (origin: string) => {
      const response = await exports.default.fetch(new Request(`${origin}/openapi.json`));
      return ((await response.json()) as { servers?: Array<{ url: string }> }).servers?.map((server) => server.url);
    };
    expect(await served(BASE_URL)).toEqual([BASE_URL]);
    // After the document is built and kept: the next request still gets its own origin.
    expect(await served("http://localhost:8788")).toEqual(["http://localhost:8788"]);
    expect(await served("https://api.example.com")).toEqual(["https://api.example.com"]);
  });

  it("declares the three security schemes", async () => {
    const document = await fetchDocument();
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual(["bankSignature", "merchantKey", "operatorKey"]);
    expect(document.components.securitySchemes.operatorKey?.type).toBe("http");
    expect(document.components.securitySchemes.merchantKey?.type).toBe("http");
    expect(document.components.securitySchemes.bankSignature?.type).toBe("apiKey");
  });

  it("describes request fields from the same schemas that validate them", async () => {
    const document = (await fetchDocument()) as unknown as {
      components: { schemas: Record<string, { properties?: Record<string, unknown>; required?: string[]; additionalProperties?: unknown }> };
    };
    const customer = document.components.schemas.CreateCustomerRequest;
    expect(Object.keys(customer?.properties ?? {}).sort()).toEqual(["cbu", "cuit", "name"]);
    expect(customer?.required?.sort()).toEqual(["cuit", "name"]);
    expect(customer?.additionalProperties).toBe(false);
  });
});

/** Every (where, operation) in the document. */
function operationsOf(document: OpenApiDocument): Array<{ where: string; method: string; path: string; operation: Operation }> {
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({ where: `${method.toUpperCase()} ${path}`, method, path, operation })),
  );
}

describe("OpenAPI operations", () => {
  it("each have an operationId: a camelCase verb phrase, unique across the document", async () => {
    const operations = operationsOf(await fetchDocument());
    const missing = operations.filter(({ operation }) => !operation.operationId).map(({ where }) => where);
    expect(missing).toEqual([]);
    for (const { where, operation } of operations) {
      expect(operation.operationId, where).toMatch(/^(get|list|create|cancel|revoke|receive|retry|check|assign|return|start|resolve|settle|plan|update|rotate|redeliver|close|delete)[A-Z][A-Za-z]*$/);
    }
    const ids = operations.map(({ operation }) => operation.operationId);
    const repeated = ids.filter((id, index) => ids.indexOf(id) !== index);
    expect(repeated).toEqual([]);
  });

  it("name the ones a client reaches for most as documented", async () => {
    const document = await fetchDocument();
    expect(document.paths["/v1/payouts"]?.post?.operationId).toBe("createPayout");
    expect(document.paths["/v1/payments"]?.get?.operationId).toBe("listPayments");
    expect(document.paths["/v1/customers/{id}/balance"]?.get?.operationId).toBe("getCustomerBalance");
  });

  it("declare 413 and 415 on every POST, PUT and PATCH: the body checks run on all of them", async () => {
    const operations = operationsOf(await fetchDocument()).filter(({ method }) => ["post", "put", "patch"].includes(method));
    expect(operations.length).toBeGreaterThan(10);
    for (const { where, operation } of operations) {
      expect(operation.responses?.["413"]?.description, where).toMatch(/^payload_too_large\b/);
      expect(operation.responses?.["415"]?.description, where).toMatch(/^unsupported_media_type\b/);
    }
  });

  it("declare 503 unavailable on every operation: an invalid configuration refuses every request", async () => {
    for (const { where, operation } of operationsOf(await fetchDocument())) {
      expect(operation.responses?.["503"]?.description, where).toMatch(/^unavailable\b/);
    }
  });

  it("describe each problem status with codes of that status only", async () => {
    const codeNames = new RegExp(`\\b(${errorCodes.join("|")})\\b`, "g");
    for (const { where, operation } of operationsOf(await fetchDocument())) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (Number(status) < 400) continue;
        const named = [...new Set(response.description?.match(codeNames) ?? [])] as ErrorCode[];
        expect(named.length, `${where} ${status}`).toBeGreaterThan(0);
        for (const code of named) expect(errorCatalog[code].status, `${where} ${status} names ${code}`).toBe(Number(status));
      }
    }
  });

  it("describe the bank webhook's 401 as a bad signature (invalid_signature), never an API key", async () => {
    const bank = (await fetchDocument()).paths["/v1/bank/events"]?.post;
    expect(bank?.responses?.["401"]?.description).toMatch(/^invalid_signature\b/);
    expect(bank?.responses?.["401"]?.description).not.toMatch(/unauthenticated|API key/i);
    expect(bank?.responses?.["422"]?.description).toMatch(/^unprocessable_event\b/);
    expect(bank?.responses?.["429"]).toBeUndefined();
  });

  it("list every error code, with its status, in the Problem schema", async () => {
    const document = (await fetchDocument()) as unknown as {
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[]; description?: string }> }> };
    };
    const code = document.components.schemas.Problem?.properties?.code;
    expect([...(code?.enum ?? [])].sort()).toEqual([...errorCodes].sort());
    for (const name of errorCodes) expect(code?.description).toContain(`\`${name}\` (${errorCatalog[name].status})`);
    expect(document.components.schemas.Problem?.properties?.type?.description).toContain("/errors#<code>");
  });
});

describe("GET /errors", () => {
  async function fetchErrorsPage(): Promise<string> {
    const response = await api("/errors");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    return response.text();
  }

  it("lists every error code as an anchor, with its status and title, without a key", async () => {
    const page = await fetchErrorsPage();
    for (const code of errorCodes) {
      const row = page.match(new RegExp(`<tr id="${code}">([\\s\\S]*?)</tr>`))?.[1];
      expect(row, code).toBeDefined();
      expect(row, code).toContain(`<td>${errorCatalog[code].status}</td>`);
      expect(row, code).toContain(`<td>${errorCatalog[code].title}</td>`);
    }
    expect(page.match(/<tr id="/g)?.length).toBe(errorCodes.length);
  });

  it("is where a real problem's type leads: /errors#<code>, an anchor that exists", async () => {
    const problems = [
      await api("/no-such-page"),
      await api("/v1/payouts"),
      await api("/v1/bank/events", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }),
    ];
    const page = await fetchErrorsPage();
    const codes = [];
    for (const response of problems) {
      const problem = (await response.json()) as { type: string; code: string; status: number };
      codes.push(problem.code);
      expect(problem.type).toBe(`/errors#${problem.code}`);
      const target = new URL(problem.type, BASE_URL);
      expect(target.pathname).toBe("/errors");
      expect(page).toContain(`id="${target.hash.slice(1)}"`);
    }
    expect(codes).toEqual(["not_found", "unauthenticated", "invalid_signature"]);
  });
});

describe("GET /docs", () => {
  it("serves an HTML reference page without a key", async () => {
    const response = await api("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain("/openapi.json");
  });
});

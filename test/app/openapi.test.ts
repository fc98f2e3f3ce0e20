import { describe, expect, it } from "vitest";
import { newApp } from "../../src/app";
import { exports } from "cloudflare:workers";
import { api, BASE_URL } from "../helpers";

interface Operation {
  summary?: string;
  tags?: string[];
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, unknown>;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string }> };
}

// Pages for people, described in info.description rather than as operations.
const undocumented = new Set(["/openapi.json", "/docs", "/"]);

/** Every (method, path) the app answers, from its own routing table, in OpenAPI form. */
function registeredRoutes(): Array<{ method: string; path: string }> {
  const seen = new Map<string, { method: string; path: string }>();
  for (const route of newApp().routes) {
    // app.use() entries are method ALL and/or wildcard paths: middleware, not operations.
    if (route.method === "ALL" || route.path.includes("*") || undocumented.has(route.path)) continue;
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

describe("GET /docs", () => {
  it("serves an HTML reference page without a key", async () => {
    const response = await api("/docs");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain("/openapi.json");
  });
});

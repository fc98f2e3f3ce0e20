import { describe, expect, it } from "vitest";
import { api } from "../helpers";

const BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
const CURL_ACCEPT = "*/*";

function getRoot(accept?: string): Promise<Response> {
  return api("/", accept === undefined ? {} : { headers: { accept } });
}

/** The targets of every href and src in a page. */
function linkTargets(html: string): string[] {
  return [...html.matchAll(/\b(?:href|src)="([^"]*)"/g)].map((match) => match[1]!);
}

async function expectHtmlPage(response: Response): Promise<string> {
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/html");
  expect(response.headers.get("vary")).toContain("Accept");
  return response.text();
}

describe("GET / for a person", () => {
  it("answers a browser with an HTML page that leads to /docs, /openapi.json and the console", async () => {
    const html = await expectHtmlPage(await getRoot(BROWSER_ACCEPT));
    expect(html).toMatch(/^<!doctype html>/i);
    expect(linkTargets(html).sort()).toEqual(["/console", "/docs", "/openapi.json"]);
  });

  it("answers curl (Accept: */*) and a request with no Accept header with the same page", async () => {
    const browser = await expectHtmlPage(await getRoot(BROWSER_ACCEPT));
    expect(await expectHtmlPage(await getRoot(CURL_ACCEPT))).toBe(browser);
    expect(await expectHtmlPage(await getRoot())).toBe(browser);
  });

  it("needs no key, and every link on the page answers 200 (no dead link, e.g. to a console not served yet)", async () => {
    const html = await expectHtmlPage(await getRoot(BROWSER_ACCEPT));
    for (const target of linkTargets(html)) {
      const response = await api(target);
      expect(response.status, target).toBe(200);
      await response.arrayBuffer();
    }
  });

  it("works offline: no script, nothing loaded from elsewhere, and a CSP that forbids both", async () => {
    const response = await getRoot(BROWSER_ACCEPT);
    const html = await expectHtmlPage(response);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect(linkTargets(html).every((target) => target.startsWith("/"))).toBe(true);
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).toContain("default-src 'none'");
    expect(policy).not.toMatch(/script-src/);
  });

  it("answers HEAD like GET, without a body", async () => {
    const response = await api("/", { method: "HEAD", headers: { accept: BROWSER_ACCEPT } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toBe("");
  });
});

describe("GET / for an API client", () => {
  it("answers Accept: application/json with a JSON index of the same links", async () => {
    const response = await getRoot("application/json");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(response.headers.get("vary")).toContain("Accept");
    expect(await response.json()).toEqual({ name: "Virtual Accounts API", documentation_url: "/docs", openapi_url: "/openapi.json", console_url: "/console" });
  });

  it("follows the Accept header's preferences between HTML and JSON", async () => {
    const cases: Array<[accept: string, type: string]> = [
      ["application/json, text/html;q=0.5", "application/json"],
      ["text/html, application/json;q=0.9", "text/html"],
      ["application/json;q=0, */*", "text/html"],
      ["text/*", "text/html"],
      ["application/problem+json", "text/html"],
    ];
    for (const [accept, type] of cases) {
      const response = await getRoot(accept);
      expect(response.status, accept).toBe(200);
      expect(response.headers.get("content-type"), accept).toContain(type);
      await response.arrayBuffer();
    }
  });

  it("answers a malformed Accept header with the page, never a 500", async () => {
    for (const accept of [";;;,,", "application/json;q=abc", "x".repeat(8 * 1024)]) {
      const response = await getRoot(accept);
      expect(response.status, accept).toBe(200);
      await response.arrayBuffer();
    }
  });

  it("still answers other methods on / with 404 not_found", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await api("/", { method, headers: { accept: "application/json" } });
      expect(response.status, method).toBe(404);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(((await response.json()) as { code: string }).code).toBe("not_found");
    }
  });
});

/**
 * /docs works with no internet (issue 13): the page names no other host, and the script it loads
 * is one of the Worker's static assets (public/, wrangler.toml [assets]), copied from the pinned
 * @scalar/api-reference by scripts/copy-docs-assets.mjs.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE_URL } from "../helpers";

/** Every URL the page would make a browser load or call: src/href attributes and url-ish strings. */
function referencedUrls(html: string): string[] {
  const attributes = [...html.matchAll(/\b(?:src|href)\s*=\s*["']([^"']+)["']/gi)].map((match) => match[1]!);
  const absolute = [...html.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)<]*/gi)].map((match) => match[0]);
  return [...attributes, ...absolute];
}

async function docsHtml(): Promise<string> {
  const response = await api("/docs");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/html");
  return response.text();
}

describe("GET /docs without internet", () => {
  it("references no other host: every URL in the page is a path on this server", async () => {
    const html = await docsHtml();
    const urls = referencedUrls(html);
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) {
      expect(new URL(url, BASE_URL).origin, url).toBe(BASE_URL);
    }
    // The two things the page loads: the script and the document it renders.
    expect(html).toContain('<script src="/assets/scalar-api-reference.js"></script>');
    expect(html).toContain('"url": "/openapi.json"');
    // Scalar's defaults that would reach out: its web fonts and its telemetry.
    expect(html).toContain('"withDefaultFonts": false');
    expect(html).toContain('"telemetry": false');
  });

  it("loads a script the Worker serves, which defines the global the page calls", async () => {
    const html = await docsHtml();
    const src = /<script src="([^"]+)"/.exec(html)?.[1];
    expect(src).toBe("/assets/scalar-api-reference.js");
    // The static assets answer before the Worker in wrangler dev and on Cloudflare; in the test
    // pool the Worker's own entry does not route to them, so ask the assets binding directly.
    const script = await env.ASSETS.fetch(new URL(src!, BASE_URL));
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toContain("javascript");
    const body = await script.text();
    expect(body.length).toBeGreaterThan(1_000_000);
    // The page runs `Scalar.createApiReference('#app', …)`: the bundle must define exactly that.
    expect(html).toContain("Scalar.createApiReference('#app'");
    expect(body).toContain("window.Scalar={createApiReference:");
  });
});

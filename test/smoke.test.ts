import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

describe("smoke", () => {
  it("answers unknown routes with problem+json 404", async () => {
    const response = await exports.default.fetch("http://api.test/nope");
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.headers.get("request-id")).toMatch(/^req_/);
  });
});

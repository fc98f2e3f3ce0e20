/**
 * WEBHOOK_RETRY_BASE_MS outside the sandbox (src/env.ts): API §14 promises retries for at least
 * 3 days, so a base whose whole round (src/webhooks/schedule.ts) is shorter is refused, naming
 * the variable and the smallest base allowed. The sandbox (local runs, tests) keeps any base.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, type Env } from "../../src/env";
import { limits } from "../../src/limits";
import { minimumProductionRetryBaseMs, minimumRetryWindowMs, roundFloorMs } from "../../src/webhooks/schedule";

function problemsOf(bindings: Partial<Env>): string[] | null {
  try {
    loadConfig({ ...env, ...bindings } as Env);
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe("the smallest production retry base", () => {
  it("is derived from the schedule: the least base whose round lasts 3 days", () => {
    const least = minimumProductionRetryBaseMs();
    expect(roundFloorMs(least)).toBeGreaterThanOrEqual(minimumRetryWindowMs);
    expect(roundFloorMs(least - 1)).toBeLessThan(minimumRetryWindowMs);
    // With today's schedule (21 attempts, waits capped at 360 × base): 3 days / 4 471 bases.
    expect(limits.webhook_attempts_max).toBe(21);
    expect(least).toBe(57_974);
    expect(least).toBeLessThanOrEqual(60_000); // the production value (wrangler.toml) passes
  });
});

describe("WEBHOOK_RETRY_BASE_MS when SANDBOX is not true", () => {
  const least = minimumProductionRetryBaseMs();

  it.each([
    ["false", String(least)],
    ["false", "60000"],
    [undefined, String(least)], // SANDBOX unset is false
  ])("accepts SANDBOX=%s with a base of %s ms", (sandbox, base) => {
    expect(problemsOf({ SANDBOX: sandbox, WEBHOOK_RETRY_BASE_MS: base })).toBeNull();
  });

  it.each([
    ["false", String(least - 1)],
    ["false", "1"],
    [undefined, "2000"], // .dev.vars.example's local value, with SANDBOX unset
  ])("refuses SANDBOX=%s with a base of %s ms, naming the variable and the least allowed", (sandbox, base) => {
    const problems = problemsOf({ SANDBOX: sandbox, WEBHOOK_RETRY_BASE_MS: base });
    expect(problems).toEqual([`WEBHOOK_RETRY_BASE_MS must be at least ${least} when SANDBOX is not true (retries must last at least 3 days)`]);
  });

  it("defaults to 60000 outside the sandbox, which is allowed", () => {
    expect(problemsOf({ SANDBOX: "false", WEBHOOK_RETRY_BASE_MS: undefined })).toBeNull();
  });

  it("names it beside another bad variable", () => {
    const problems = problemsOf({ SANDBOX: "false", WEBHOOK_RETRY_BASE_MS: "1", ADMIN_API_KEY: "short" });
    expect(problems?.some((problem) => problem.startsWith("ADMIN_API_KEY"))).toBe(true);
    expect(problems?.some((problem) => problem.startsWith(`WEBHOOK_RETRY_BASE_MS must be at least ${least}`))).toBe(true);
  });

  it("reports a malformed base once, as malformed", () => {
    expect(problemsOf({ SANDBOX: "false", WEBHOOK_RETRY_BASE_MS: "0" })).toEqual(["WEBHOOK_RETRY_BASE_MS must be at least 1"]);
  });
});

describe("in the sandbox", () => {
  const least = minimumProductionRetryBaseMs();

  it("accepts any base, so that tests and local runs watch retries in milliseconds", () => {
    expect(problemsOf({ SANDBOX: "true", WEBHOOK_RETRY_BASE_MS: "1" })).toBeNull();
    expect(problemsOf({ SANDBOX: "true", WEBHOOK_RETRY_BASE_MS: String(least - 1) })).toBeNull();
  });
});

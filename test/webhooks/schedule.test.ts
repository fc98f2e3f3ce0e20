/** The retry schedule (src/webhooks/schedule.ts): at least 3 days at the production base, jitter only adds. */
import { describe, expect, it } from "vitest";
import { limits } from "../../src/limits";
import { nextAttemptAt, retryDelayMs, roundFloorMs, unjitteredDelayMs } from "../../src/webhooks/schedule";

const minute = 60_000;
const threeDays = 3 * 24 * 60 * minute;

describe("webhook retry schedule", () => {
  it("lasts at least 3 days at a 60 s base, and one attempt fewer would not", () => {
    expect(limits.webhook_attempts_max).toBe(21);
    // 1 + 2 + … + 256 minutes, then 11 waits capped at 360 minutes: 4 471 minutes.
    expect(roundFloorMs(60_000)).toBe(4_471 * minute);
    expect(roundFloorMs(60_000)).toBeGreaterThanOrEqual(threeDays);
    // Without the last retry the floor is 4 111 minutes, under 72 hours: 21 is the least that works.
    expect(roundFloorMs(60_000) - unjitteredDelayMs(60_000, limits.webhook_attempts_max - 1)).toBeLessThan(threeDays);
  });

  it("doubles from the base, caps at 360 × base, and jitter only adds up to a quarter", () => {
    expect([1, 2, 3, 4, 9, 10, 20].map((retry) => unjitteredDelayMs(1_000, retry))).toEqual([1_000, 2_000, 4_000, 8_000, 256_000, 360_000, 360_000]);
    for (let retry = 1; retry < limits.webhook_attempts_max; retry++) {
      const floor = unjitteredDelayMs(60_000, retry);
      expect(retryDelayMs(60_000, retry, () => 0)).toBe(floor);
      expect(retryDelayMs(60_000, retry, () => 0.999_999)).toBeLessThan(floor * 1.25);
      for (let sample = 0; sample < 20; sample++) {
        const delay = retryDelayMs(60_000, retry);
        expect(delay).toBeGreaterThanOrEqual(floor);
        expect(delay).toBeLessThan(floor * 1.25);
      }
    }
    // The longest wait, jittered, still fits one queue delay (12 h) at the production base.
    expect(retryDelayMs(60_000, 30, () => 0.999_999)).toBeLessThan(12 * 60 * minute);
  });

  it("the whole jittered round, at its longest, stays within 1.25 × its floor", () => {
    let total = 0;
    for (let retry = 1; retry < limits.webhook_attempts_max; retry++) total += retryDelayMs(60_000, retry, () => 0.999_999);
    expect(total).toBeGreaterThanOrEqual(threeDays);
    expect(total).toBeLessThan(roundFloorMs(60_000) * 1.25);
  });

  it("gives up after webhook_attempts_max attempts in a round", () => {
    const now = 1_000_000;
    expect(nextAttemptAt(1_000, 1, now, () => 0)).toBe(now + 1_000);
    expect(nextAttemptAt(1_000, limits.webhook_attempts_max - 1, now, () => 0)).toBe(now + 360_000);
    expect(nextAttemptAt(1_000, limits.webhook_attempts_max, now)).toBeNull();
  });
});

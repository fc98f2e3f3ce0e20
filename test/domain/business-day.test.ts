import { describe, expect, it } from "vitest";
import { businessDateOf, previousBusinessDate } from "../../src/domain/business-day";

describe("business days in Buenos Aires (UTC-3, no daylight saving)", () => {
  it("puts an instant on the day it is in Buenos Aires", () => {
    expect(businessDateOf(Date.parse("2026-11-21T02:59:59Z"))).toBe("2026-11-20"); // 23:59:59 the day before
    expect(businessDateOf(Date.parse("2026-11-21T03:00:00Z"))).toBe("2026-11-21"); // midnight
    expect(businessDateOf(Date.parse("2026-07-01T12:00:00Z"))).toBe("2026-07-01"); // winter: still UTC-3
  });

  it("names the day before, across months, years and a leap day", () => {
    expect(previousBusinessDate(Date.parse("2026-11-21T03:15:00Z"))).toBe("2026-11-20");
    expect(previousBusinessDate(Date.parse("2026-03-01T03:15:00Z"))).toBe("2026-02-28");
    expect(previousBusinessDate(Date.parse("2028-03-01T03:15:00Z"))).toBe("2028-02-29");
    expect(previousBusinessDate(Date.parse("2027-01-01T03:15:00Z"))).toBe("2026-12-31");
    // 01:00 UTC on the 21st is still the 20th in Buenos Aires: the day before is the 19th.
    expect(previousBusinessDate(Date.parse("2026-11-21T01:00:00Z"))).toBe("2026-11-19");
  });
});

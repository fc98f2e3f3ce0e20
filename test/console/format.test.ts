import { describe, expect, it } from "vitest";
import { buenosAiresDate, formatAmount, formatArs, formatBuenosAires } from "../../src/console/format";

describe("formatArs: centavos as Argentine pesos", () => {
  it("groups thousands with '.' and writes centavos after ','", () => {
    expect(formatArs(424242)).toBe("$ 4.242,42");
    expect(formatArs(123456789012)).toBe("$ 1.234.567.890,12");
    expect(formatArs(100000)).toBe("$ 1.000,00");
    expect(formatArs(99999)).toBe("$ 999,99");
  });

  it("pads small amounts and zero", () => {
    expect(formatArs(0)).toBe("$ 0,00");
    expect(formatArs(1)).toBe("$ 0,01");
    expect(formatArs(10)).toBe("$ 0,10");
  });

  it("puts the sign before the symbol for negative amounts", () => {
    expect(formatArs(-424242)).toBe("-$ 4.242,42");
    expect(formatArs(-1)).toBe("-$ 0,01");
  });

  it("is exact past 2^53 (bigint sums) and refuses what is not an integer of centavos", () => {
    expect(formatArs(2n ** 63n - 1n)).toBe("$ 92.233.720.368.547.758,07");
    expect(formatArs(Number.MAX_SAFE_INTEGER)).toBe("$ 90.071.992.547.409,91");
    expect(() => formatArs(12.5)).toThrow(RangeError);
    expect(() => formatArs(Number.NaN)).toThrow(RangeError);
    expect(() => formatArs(2 ** 60)).toThrow(RangeError);
  });

  it("names a currency other than ARS by its code", () => {
    expect(formatAmount(424242, "ARS")).toBe("$ 4.242,42");
    expect(formatAmount(-424242, "usd")).toBe("USD -4.242,42");
  });
});

describe("formatBuenosAires: instants in Buenos Aires time", () => {
  it("writes day/month/year and 24 h time, three hours behind UTC today", () => {
    expect(formatBuenosAires("2026-11-28T04:02:14.000Z")).toBe("28/11/2026 01:02:14");
    expect(formatBuenosAires("2026-07-01T15:30:00Z")).toBe("01/07/2026 12:30:00");
  });

  it("moves to the previous day before 03:00 UTC, and accepts epoch milliseconds", () => {
    expect(formatBuenosAires(Date.UTC(2026, 0, 1, 2, 59, 59))).toBe("31/12/2025 23:59:59");
    expect(buenosAiresDate(Date.UTC(2026, 0, 1, 2, 59, 59))).toBe("2025-12-31");
    expect(buenosAiresDate(Date.UTC(2026, 0, 1, 3, 0, 0))).toBe("2026-01-01");
  });

  it("follows the time-zone database, not a fixed offset (summer time of 2007–2008: UTC−2)", () => {
    expect(formatBuenosAires("2008-01-15T12:00:00Z")).toBe("15/01/2008 10:00:00");
  });

  it("refuses text that is not an instant", () => {
    expect(() => formatBuenosAires("yesterday")).toThrow(RangeError);
  });
});

import { describe, expect, it } from "vitest";
import { isValidCbu, makeCbu, normalizeCbu } from "../../src/domain/cbu";

const VALID = "2850590940090418135201";
const INVALID = "2810590940090418135201"; // one digit of the first block changed

/** Deterministic digits so that failures are reproducible (xorshift32). */
function digitSource(seed: number): (count: number) => string {
  let state = seed >>> 0 || 1;
  return (count) => {
    let out = "";
    for (let i = 0; i < count; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      out += state % 10;
    }
    return out;
  };
}

const replaceAt = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);

describe("normalizeCbu", () => {
  it("accepts the valid vector, bare or with dashes", () => {
    expect(normalizeCbu(VALID)).toBe(VALID);
    expect(normalizeCbu("28505909-40090418135201")).toBe(VALID);
    expect(normalizeCbu("285-0590-9-4009041813520-1")).toBe(VALID);
  });

  it("rejects the invalid vector", () => {
    expect(normalizeCbu(INVALID)).toBeNull();
  });

  it("rejects a wrong first check digit (digit 8) even when the second is right", () => {
    for (let d = 0; d <= 9; d++) {
      const candidate = replaceAt(VALID, 7, String(d));
      expect(normalizeCbu(candidate), candidate).toBe(String(d) === VALID[7] ? VALID : null);
    }
  });

  it("rejects a wrong second check digit (digit 22) even when the first is right", () => {
    for (let d = 0; d <= 9; d++) {
      const candidate = replaceAt(VALID, 21, String(d));
      expect(normalizeCbu(candidate), candidate).toBe(String(d) === VALID[21] ? VALID : null);
    }
  });

  it("rejects every single-digit substitution", () => {
    for (let i = 0; i < 22; i++) {
      for (let d = 0; d <= 9; d++) {
        if (String(d) === VALID[i]) continue;
        expect(normalizeCbu(replaceAt(VALID, i, String(d)))).toBeNull();
      }
    }
  });

  it("rejects adjacent swaps exactly when the digits do not differ by 5 (known BCRA weakness)", () => {
    const next = digitSource(7);
    for (let n = 0; n < 200; n++) {
      const cbu = makeCbu(next(7), next(13));
      for (let i = 0; i < 21; i++) {
        const a = Number(cbu[i]);
        const b = Number(cbu[i + 1]);
        if (a === b) continue;
        const swapped = cbu.slice(0, i) + cbu[i + 1] + cbu[i] + cbu.slice(i + 2);
        // Swapping digits 8 and 9 changes each block's check by a single digit: always caught.
        const expectCaught = i === 7 || Math.abs(a - b) !== 5;
        expect(normalizeCbu(swapped) === null, `${cbu} swap ${i}`).toBe(expectCaught);
      }
    }
  });

  it("rejects wrong lengths", () => {
    expect(normalizeCbu("")).toBeNull();
    expect(normalizeCbu(VALID.slice(0, 21))).toBeNull();
    expect(normalizeCbu(VALID + "0")).toBeNull();
    expect(normalizeCbu("0" + VALID)).toBeNull();
  });

  it("rejects spaces, letters, dots and non-ASCII digits", () => {
    for (const input of [
      "2850590 940090418135201",
      ` ${VALID}`,
      `${VALID}\n`,
      "28505909.40090418135201",
      "285059094009041813520l",
      `CBU${VALID}`,
      "２８５０５９０９４００９０４１８１３５２０１",
    ]) {
      expect(normalizeCbu(input), JSON.stringify(input)).toBeNull();
    }
  });
});

describe("isValidCbu", () => {
  it("agrees with normalizeCbu", () => {
    expect(isValidCbu(VALID)).toBe(true);
    expect(isValidCbu(INVALID)).toBe(false);
    expect(isValidCbu("")).toBe(false);
  });
});

describe("makeCbu", () => {
  it("reproduces the known valid vector", () => {
    expect(makeCbu("2850590", "4009041813520")).toBe(VALID);
  });

  it("round-trips on many generated numbers and keeps the payload in place", () => {
    const next = digitSource(42);
    const firstChecks = new Set<string>();
    const secondChecks = new Set<string>();
    for (let n = 0; n < 2000; n++) {
      const first7 = next(7);
      const middle13 = next(13);
      const cbu = makeCbu(first7, middle13);
      expect(cbu).toMatch(/^[0-9]{22}$/);
      expect(cbu.slice(0, 7)).toBe(first7);
      expect(cbu.slice(8, 21)).toBe(middle13);
      expect(normalizeCbu(cbu)).toBe(cbu);
      // The check digits are the only valid ones: every other value is rejected.
      for (const index of [7, 21]) {
        for (let d = 0; d <= 9; d++) {
          if (String(d) !== cbu[index]) expect(normalizeCbu(replaceAt(cbu, index, String(d)))).toBeNull();
        }
      }
      firstChecks.add(cbu[7]!);
      secondChecks.add(cbu[21]!);
    }
    // Both check digits take every value: the function is not stuck on a constant.
    expect(firstChecks.size).toBe(10);
    expect(secondChecks.size).toBe(10);
  });

  it("throws on malformed parts", () => {
    expect(() => makeCbu("285059", "4009041813520")).toThrow(RangeError);
    expect(() => makeCbu("28505900", "4009041813520")).toThrow(RangeError);
    expect(() => makeCbu("2850590", "400904181352")).toThrow(RangeError);
    expect(() => makeCbu("2850590", "40090418135200")).toThrow(RangeError);
    expect(() => makeCbu("285059a", "4009041813520")).toThrow(RangeError);
    expect(() => makeCbu("2850590", "400904181352-")).toThrow(RangeError);
  });
});

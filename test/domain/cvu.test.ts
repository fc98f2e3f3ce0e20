import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { isValidCbu } from "../../src/domain/cbu";
import { cvuOf, isInCvuRange, normalizeCvu } from "../../src/domain/cvu";

describe("CVU numbers", () => {
  it("lays out 000 + PSP code + check digit + 0 + 12-digit account number + check digit (API §11)", () => {
    const cvu = cvuOf("0042", 1);
    expect(cvu).toMatch(/^0000042[0-9]0000000000001[0-9]$/);
    expect(isValidCbu(cvu)).toBe(true);
  });

  it("gives every account number its own valid CVU, in our range, read back by normalizeCvu", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999_999_999 }), fc.integer({ min: 1, max: 999_999_999_999 }), (a, b) => {
        const [first, second] = [cvuOf("0042", a), cvuOf("0042", b)];
        expect(isValidCbu(first)).toBe(true);
        expect(normalizeCvu(first, "0042")).toBe(first);
        expect(isInCvuRange(first, "0042")).toBe(true);
        expect(isInCvuRange(first, "0043")).toBe(false);
        expect(first === second).toBe(a === b);
      }),
    );
  });

  it("refuses account numbers out of the 12-digit range and PSP codes that are not 4 digits", () => {
    for (const seq of [0, -1, 1.5, 1_000_000_000_000]) expect(() => cvuOf("0042", seq)).toThrow(RangeError);
    for (const code of ["42", "00420", "abcd"]) expect(() => cvuOf(code, 1)).toThrow(RangeError);
  });

  it("does not take a CBU of another bank, or a mistyped CVU, for a well-formed CVU of ours", () => {
    expect(normalizeCvu("2850590940090418135201", "0042")).toBeNull();
    const cvu = cvuOf("0042", 77);
    const mistyped = cvu.slice(0, 20) + String((Number(cvu[20]) + 1) % 10) + cvu[21];
    expect(normalizeCvu(mistyped, "0042")).toBeNull();
    // Still of our range: routing quarantines it as a number we never issued.
    expect(isInCvuRange(mistyped, "0042")).toBe(true);
  });
});

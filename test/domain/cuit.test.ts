import { describe, expect, it } from "vitest";
import { formatCuit, isValidCuit, normalizeCuit } from "../../src/domain/cuit";

// Real-world valid vectors (person and company).
const PERSON = "20267565393";
const COMPANY = "30546689979";

// Worked by hand with weights 5,4,3,2,7,6,5,4,3,2:
//   20-12345676-?  Σ = 144, 144 mod 11 = 1 → r = 10 → no check digit can make it valid.
//   20-12345670-0  Σ = 132, 132 mod 11 = 0 → r = 11 → check digit 0.
//   23-12345676-9  Σ = 156, 156 mod 11 = 2 → r = 9 (what AFIP issues instead of the r=10 case).
const R10_FIRST10 = "2012345676";
const R11_VALID = "20123456700";
const AFIP_REISSUED = "23123456769";

describe("normalizeCuit", () => {
  it("accepts the valid vectors with and without dashes", () => {
    expect(normalizeCuit("20-26756539-3")).toBe(PERSON);
    expect(normalizeCuit(PERSON)).toBe(PERSON);
    expect(normalizeCuit("30-54668997-9")).toBe(COMPANY);
    expect(normalizeCuit(COMPANY)).toBe(COMPANY);
  });

  it("accepts dashes anywhere, including repeated, leading and trailing", () => {
    expect(normalizeCuit("2-0267565393")).toBe(PERSON);
    expect(normalizeCuit("20-2675-6539-3")).toBe(PERSON);
    expect(normalizeCuit("-20267565393-")).toBe(PERSON);
    expect(normalizeCuit("20--26756539--3")).toBe(PERSON);
  });

  it("rejects every other check digit", () => {
    for (const valid of [PERSON, COMPANY, R11_VALID, AFIP_REISSUED]) {
      for (let d = 0; d <= 9; d++) {
        const candidate = valid.slice(0, 10) + d;
        expect(normalizeCuit(candidate), candidate).toBe(candidate === valid ? valid : null);
      }
    }
  });

  it("rejects every single-digit substitution anywhere in the number", () => {
    for (const valid of [PERSON, COMPANY, R11_VALID, AFIP_REISSUED]) {
      for (let i = 0; i < 11; i++) {
        for (let d = 0; d <= 9; d++) {
          if (String(d) === valid[i]) continue;
          const mutated = valid.slice(0, i) + d + valid.slice(i + 1);
          expect(normalizeCuit(mutated), mutated).toBeNull();
        }
      }
    }
  });

  it("rejects every swap of two adjacent different digits", () => {
    for (const valid of [PERSON, COMPANY, AFIP_REISSUED]) {
      for (let i = 0; i < 10; i++) {
        if (valid[i] === valid[i + 1]) continue;
        const swapped = valid.slice(0, i) + valid[i + 1] + valid[i] + valid.slice(i + 2);
        expect(normalizeCuit(swapped), swapped).toBeNull();
      }
    }
  });

  it("treats remainder 10 as invalid whatever the last digit", () => {
    for (let d = 0; d <= 9; d++) expect(normalizeCuit(R10_FIRST10 + d)).toBeNull();
    expect(normalizeCuit(AFIP_REISSUED)).toBe(AFIP_REISSUED);
  });

  it("maps remainder 11 to check digit 0", () => {
    expect(normalizeCuit("20-12345670-0")).toBe(R11_VALID);
    expect(normalizeCuit("30-71234562-0")).toBe("30712345620");
  });

  it("has at most one valid check digit for any first ten digits", () => {
    let seed = 12345;
    const nextDigit = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 16) % 10;
    };
    let withoutAny = 0;
    for (let n = 0; n < 2000; n++) {
      let first10 = "";
      for (let i = 0; i < 10; i++) first10 += nextDigit();
      let valid = 0;
      for (let d = 0; d <= 9; d++) if (normalizeCuit(first10 + d) !== null) valid++;
      expect(valid).toBeLessThanOrEqual(1);
      if (valid === 0) withoutAny++;
    }
    // Only the r = 10 remainder (1 in 11) has no valid completion.
    expect(withoutAny).toBeGreaterThan(2000 / 11 / 2);
    expect(withoutAny).toBeLessThan((2000 / 11) * 2);
  });

  it("rejects wrong lengths", () => {
    expect(normalizeCuit("")).toBeNull();
    expect(normalizeCuit("-")).toBeNull();
    expect(normalizeCuit("2026756539")).toBeNull();
    expect(normalizeCuit("202675653930")).toBeNull();
    expect(normalizeCuit("020267565393")).toBeNull();
    expect(normalizeCuit("20-26756539-")).toBeNull();
  });

  it("rejects letters, dots, whitespace and non-ASCII digits", () => {
    for (const input of [
      "20-2675653A-3",
      "CUIT 20267565393",
      "20.26756539.3",
      "20 26756539 3",
      " 20267565393",
      "20267565393 ",
      "20267565393\n",
      "\t20-26756539-3",
      "20\u00A026756539\u00A03",
      "20–26756539–3", // en dashes
      "２０２６７５６５３９３", // full-width digits
      "+20267565393",
      "2026756539e0",
    ]) {
      expect(normalizeCuit(input), JSON.stringify(input)).toBeNull();
    }
  });
});

describe("isValidCuit", () => {
  it("agrees with normalizeCuit", () => {
    expect(isValidCuit("20-26756539-3")).toBe(true);
    expect(isValidCuit("30546689979")).toBe(true);
    expect(isValidCuit("20-26756539-4")).toBe(false);
    expect(isValidCuit("")).toBe(false);
  });
});

describe("formatCuit", () => {
  it("formats as XX-XXXXXXXX-X", () => {
    expect(formatCuit(PERSON)).toBe("20-26756539-3");
    expect(formatCuit(COMPANY)).toBe("30-54668997-9");
    expect(formatCuit("2-0267565393")).toBe("20-26756539-3");
  });

  it("round-trips through normalizeCuit", () => {
    for (const cuit of [PERSON, COMPANY, R11_VALID, AFIP_REISSUED]) expect(normalizeCuit(formatCuit(cuit))).toBe(cuit);
  });

  it("throws on an invalid CUIT instead of displaying it", () => {
    expect(() => formatCuit("20267565394")).toThrow(RangeError);
    expect(() => formatCuit("")).toThrow(RangeError);
  });
});

import { describe, expect, it } from "vitest";
import {
  REFERENCE_ALPHABET,
  REFERENCE_LENGTH,
  REFERENCE_SCAN_LIMIT_CHARS,
  findReferences,
  formatReference,
  generateReference,
  normalizeReference,
  referenceKind,
} from "../../src/domain/reference-code";

// Fixed vectors, computed outside the implementation by brute force (the one check symbol
// that makes Σ (10 − i)·value(symbol i) ≡ 0 mod 29). If these fail, the algorithm changed.
const CUSTOMER = "CR7K4P9QXF";
const MERCHANT = "MR7K4P9QXP"; // same payload, different prefix → different check symbol
const CUSTOMER_WRONG_CHECK = "CR7K4P9QX2";
const WITH_FF = "MRABCDEFFQ"; // valid, though never issued (it has a C after the prefix)
const none = { customer: [], merchant: [], malformed: [] };

// Written out here rather than derived from the module: what generateReference may emit
// after the prefix (the alphabet without C and M).
const ISSUED_BODY = "23456789ABDEFGHJKNPQRTVWXYZ";

/** Test-side oracle: the nine symbols plus the check symbol that makes the code valid. */
function withCheck(nine: string): string {
  for (const c of REFERENCE_ALPHABET) {
    const code = nine + c;
    let sum = 0;
    for (let i = 0; i < 10; i++) sum += (10 - i) * REFERENCE_ALPHABET.indexOf(code[i]!);
    if (sum % 29 === 0) return code;
  }
  throw new Error("unreachable: 29 is prime");
}

/** Deterministic byte source (xorshift32) for reproducible generation. */
function seededBytes(seed: number): (n: number) => Uint8Array {
  let state = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      out[i] = state & 0xff;
    }
    return out;
  };
}

/** Hands out the given bytes in order, then fails loudly if asked for more. */
function scriptedBytes(bytes: number[]): (n: number) => Uint8Array {
  let position = 0;
  return (n) => {
    if (position + n > bytes.length) throw new Error("scripted bytes exhausted");
    const out = Uint8Array.from(bytes.slice(position, position + n));
    position += n;
    return out;
  };
}

const replaceAt = (s: string, i: number, c: string) => s.slice(0, i) + c + s.slice(i + 1);
const swap = (s: string, i: number, j: number) => {
  const chars = [...s];
  [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  return chars.join("");
};
const only = (code: string) => (code.startsWith("CR") ? { ...none, customer: [code] } : { ...none, merchant: [code] });

function sampleCodes(count: number, seed: number): string[] {
  const bytes = seededBytes(seed);
  const codes: string[] = [];
  for (let n = 0; n < count; n++) codes.push(generateReference(n % 2 === 0 ? "customer" : "merchant", bytes));
  return codes;
}

describe("alphabet", () => {
  it("has 29 distinct upper-case ASCII symbols, 29 being prime", () => {
    expect(REFERENCE_ALPHABET).toHaveLength(29);
    expect(new Set(REFERENCE_ALPHABET).size).toBe(29);
    expect(REFERENCE_ALPHABET).toMatch(/^[2-9A-Z]+$/);
    for (let d = 2; d * d <= 29; d++) expect(29 % d).not.toBe(0);
  });

  it("never contains the ambiguous 0 1 I L O U", () => {
    for (const c of "01ILOU") expect(REFERENCE_ALPHABET).not.toContain(c);
  });

  it("contains the prefix letters, so the prefix takes part in the check", () => {
    for (const c of "CMR") expect(REFERENCE_ALPHABET).toContain(c);
  });
});

describe("fixed vectors", () => {
  it("accepts the known valid codes and rejects a wrong check symbol", () => {
    expect(normalizeReference(CUSTOMER)).toBe(CUSTOMER);
    expect(normalizeReference(MERCHANT)).toBe(MERCHANT);
    expect(normalizeReference(WITH_FF)).toBe(WITH_FF);
    expect(normalizeReference(CUSTOMER_WRONG_CHECK)).toBeNull();
    expect(normalizeReference("MR7K4P9QXF")).toBeNull(); // customer check symbol on a merchant prefix
  });

  it("agrees with the test-side oracle", () => {
    expect(withCheck("CR7K4P9QX")).toBe(CUSTOMER);
    expect(withCheck("MR7K4P9QX")).toBe(MERCHANT);
  });
});

describe("generateReference", () => {
  it("produces valid codes of the right length, prefix and alphabet", () => {
    for (const kind of ["customer", "merchant"] as const) {
      for (let n = 0; n < 500; n++) {
        const code = generateReference(kind);
        expect(code).toHaveLength(REFERENCE_LENGTH);
        expect(code.slice(0, 2)).toBe(kind === "customer" ? "CR" : "MR");
        for (const c of code.slice(2)) expect(ISSUED_BODY).toContain(c);
        expect(normalizeReference(code)).toBe(code);
        expect(referenceKind(code)).toBe(kind);
      }
    }
  });

  it("never issues C or M after the prefix", () => {
    for (const code of sampleCodes(5000, 1)) expect(code.slice(2), code).toMatch(/^[^CM]{8}$/);
  });

  it("is reproducible with an injected byte source", () => {
    expect(sampleCodes(50, 99)).toEqual(sampleCodes(50, 99));
    expect(sampleCodes(50, 99)).not.toEqual(sampleCodes(50, 100));
  });

  it("maps accepted bytes to the issued alphabet by byte mod 27", () => {
    expect(generateReference("customer", scriptedBytes([0, 1, 2, 3, 4, 5, 6]))).toBe("CR23456784");
    expect(generateReference("merchant", scriptedBytes([0, 1, 2, 3, 4, 5, 6]))).toBe("MR2345678B");
    // 27·k + 1 all map to the same symbol, up to the largest accepted byte 242 = 8·27 + 26.
    expect(generateReference("customer", scriptedBytes([1, 28, 55, 82, 109, 136, 242]))).toBe("CR333333ZN");
  });

  it("rejects bytes ≥ 243 instead of folding them (no modulo bias), and redraws C/M check symbols", () => {
    let redrawn = 0;
    for (let byte = 0; byte < 256; byte++) {
      // The byte under test, then zeros ("2"); a second payload "2333333" in case of a redraw.
      const bytes = [byte, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1];
      const first = withCheck("CR" + (byte < 243 ? ISSUED_BODY[byte % 27] + "222222" : "2222222"));
      const redraw = "CM".includes(first[9]!);
      if (redraw) redrawn++;
      const expected = redraw ? withCheck("CR2333333") : first;
      expect(generateReference("customer", scriptedBytes(bytes)), `byte ${byte}`).toBe(expected);
    }
    expect(redrawn).toBeGreaterThan(0); // the redraw path really was exercised
    const skipped = generateReference("merchant", scriptedBytes([255, 243, 0, 250, 1, 2, 244, 3, 4, 5, 6]));
    expect(skipped).toBe("MR2345678B");
  });

  it("fails instead of looping forever on a broken byte source", () => {
    expect(() => generateReference("customer", (n) => new Uint8Array(n).fill(255))).toThrow();
    expect(() => generateReference("customer", () => new Uint8Array(1))).toThrow();
  });

  it("uses every issued symbol in every position after the prefix, roughly evenly", () => {
    const codes = sampleCodes(4000, 2024);
    for (let position = 2; position < REFERENCE_LENGTH; position++) {
      const counts = new Map<string, number>();
      for (const code of codes) counts.set(code[position]!, (counts.get(code[position]!) ?? 0) + 1);
      expect(counts.size, `position ${position}`).toBe(27);
      // Expected ≈ 4000 / 27 ≈ 148 per symbol; generous bounds, deterministic seed.
      for (const [symbol, count] of counts) {
        expect(count, `${symbol} at ${position}`).toBeGreaterThan(90);
        expect(count, `${symbol} at ${position}`).toBeLessThan(210);
      }
    }
  });

  it("uses every issued symbol with the default crypto randomness", () => {
    const seen = new Set<string>();
    for (let n = 0; n < 300; n++) for (const c of generateReference("merchant").slice(2)) seen.add(c);
    expect([...seen].sort().join("")).toBe(ISSUED_BODY);
  });
});

describe("error detection (exhaustive over generated codes)", () => {
  const codes = [CUSTOMER, MERCHANT, WITH_FF, ...sampleCodes(60, 7)];

  it("rejects every single-symbol substitution, prefix and check symbol included", () => {
    let tried = 0;
    for (const code of codes) {
      for (let i = 0; i < REFERENCE_LENGTH; i++) {
        for (const symbol of REFERENCE_ALPHABET) {
          if (symbol === code[i]) continue;
          const mutated = replaceAt(code, i, symbol);
          tried++;
          expect(normalizeReference(mutated), mutated).toBeNull();
          // In a concepto the typo is quarantined when it still looks like a code, and
          // simply not found when it does not: never attributed.
          const stillShaped = /^[CM]R/.test(mutated);
          expect(findReferences(`pago ${mutated}, gracias`), mutated).toEqual(
            stillShaped ? { ...none, malformed: [mutated] } : none,
          );
        }
      }
    }
    expect(tried).toBe(codes.length * REFERENCE_LENGTH * 28);
  });

  it("rejects substitutions with symbols outside the alphabet", () => {
    for (const code of codes.slice(0, 10)) {
      for (let i = 0; i < REFERENCE_LENGTH; i++) {
        for (const symbol of ["0", "1", "I", "L", "O", "U", "S", ".", "_", "Ñ", "😀"]) {
          expect(normalizeReference(replaceAt(code, i, symbol))).toBeNull();
        }
      }
    }
  });

  it("never turns a customer code into a merchant code or back", () => {
    for (const code of codes) {
      const flipped = replaceAt(code, 0, code[0] === "C" ? "M" : "C");
      expect(normalizeReference(flipped)).toBeNull();
      expect(findReferences(flipped)).toEqual({ ...none, malformed: [flipped] });
    }
  });

  it("rejects every transposition of two different adjacent symbols", () => {
    let tried = 0;
    for (const code of codes) {
      for (let i = 0; i + 1 < REFERENCE_LENGTH; i++) {
        if (code[i] === code[i + 1]) continue;
        tried++;
        expect(normalizeReference(swap(code, i, i + 1)), `${code} ${i}`).toBeNull();
      }
    }
    expect(tried).toBeGreaterThan(codes.length * 8);
  });

  it("rejects every transposition of two different symbols, adjacent or not", () => {
    for (const code of codes) {
      for (let i = 0; i < REFERENCE_LENGTH; i++) {
        for (let j = i + 1; j < REFERENCE_LENGTH; j++) {
          if (code[i] === code[j]) continue;
          expect(normalizeReference(swap(code, i, j)), `${code} ${i}↔${j}`).toBeNull();
        }
      }
    }
  });
});

describe("normalizeReference", () => {
  it("accepts any case, spaces and dashes", () => {
    for (const input of [
      "cr7k4p9qxf",
      "CR-7K4P-9QXF",
      "cr-7k4p-9qxf",
      " CR 7K4P 9QXF ",
      "c-r-7-k-4-p-9-q-x-f",
      "Cr7K4p9qXf",
      "CR\u00A07K4P\u00A09QXF", // no-break spaces
      "CR–7K4P—9QXF", // en and em dash
      "CR\t7K4P\n9QXF",
    ]) {
      expect(normalizeReference(input), JSON.stringify(input)).toBe(CUSTOMER);
    }
  });

  it("rejects wrong shapes", () => {
    for (const input of [
      "",
      "CR",
      "CR7K4P9QX",
      `${CUSTOMER}2`,
      `${CUSTOMER}${CUSTOMER}`,
      "XR7K4P9QXF",
      "RC7K4P9QXF",
      "7K4P9QXF",
      "CR.7K4P.9QXF",
      "CR_7K4P_9QXF",
      "ＣＲ７Ｋ４Ｐ９ＱＸＦ", // full-width
      "CR7K4P9QX0",
    ]) {
      expect(normalizeReference(input), JSON.stringify(input)).toBeNull();
    }
  });

  it("does not let Unicode case mapping create symbols", () => {
    // "ﬀ" (U+FB00) upper-cases to "FF"; it must not turn into a valid code.
    expect("ﬀ".toUpperCase()).toBe("FF");
    expect(normalizeReference("mrabcde\uFB00q")).toBeNull();
    expect(findReferences("mrabcde\uFB00q")).toEqual(none);
  });
});

describe("formatReference", () => {
  it("renders prefix-4-4", () => {
    expect(formatReference(CUSTOMER)).toBe("CR-7K4P-9QXF");
    expect(formatReference("mr 7k4p 9qxp")).toBe("MR-7K4P-9QXP");
  });

  it("round-trips with normalizeReference", () => {
    for (const code of sampleCodes(200, 3)) {
      const display = formatReference(code);
      expect(display).toMatch(/^[CM]R-[2-9A-Z]{4}-[2-9A-Z]{4}$/);
      expect(normalizeReference(display)).toBe(code);
      expect(normalizeReference(display.toLowerCase())).toBe(code);
    }
  });

  it("throws on an invalid code", () => {
    expect(() => formatReference(CUSTOMER_WRONG_CHECK)).toThrow(RangeError);
    expect(() => formatReference("")).toThrow(RangeError);
  });
});

describe("referenceKind", () => {
  it("reads the prefix of valid codes", () => {
    expect(referenceKind(CUSTOMER)).toBe("customer");
    expect(referenceKind(MERCHANT)).toBe("merchant");
    expect(referenceKind("cr-7k4p-9qxf")).toBe("customer");
  });

  it("throws on an invalid code rather than trust its prefix", () => {
    expect(() => referenceKind(CUSTOMER_WRONG_CHECK)).toThrow(RangeError);
    expect(() => referenceKind("MR7K4P9QXF")).toThrow(RangeError);
  });
});

describe("findReferences", () => {
  it("finds a code split by spaces and dashes in lower case", () => {
    expect(findReferences("pago alquiler cr-7k4p 9qxf gracias")).toEqual(only(CUSTOMER));
    expect(findReferences("PAGO c r 7 k-4p9 q x f")).toEqual(only(CUSTOMER));
    expect(findReferences("ref:cr7k4p9qxf.")).toEqual(only(CUSTOMER));
  });

  it("finds codes glued to the next word, and at the very start or end", () => {
    expect(findReferences(`${CUSTOMER}GRACIAS`)).toEqual(only(CUSTOMER));
    expect(findReferences(CUSTOMER)).toEqual(only(CUSTOMER));
    expect(findReferences(`${CUSTOMER} pago`)).toEqual(only(CUSTOMER));
    expect(findReferences(`pago ${CUSTOMER}`)).toEqual(only(CUSTOMER));
  });

  it("separates customer and merchant references", () => {
    const found = findReferences("Comercio MR-7K4P-9QXP / cliente CR-7K4P-9QXF, factura 0001");
    expect(found).toEqual({ customer: [CUSTOMER], merchant: [MERCHANT], malformed: [] });
  });

  it("reports codes with a wrong check symbol as malformed, never as a reference", () => {
    expect(findReferences("pago CR-7K4P-9QX2")).toEqual({ ...none, malformed: [CUSTOMER_WRONG_CHECK] });
    const found = findReferences(`pago ${CUSTOMER} y cr 7k4p 9qx2`);
    expect(found).toEqual({ customer: [CUSTOMER], merchant: [], malformed: [CUSTOMER_WRONG_CHECK] });
  });

  it("dedupes and keeps the order of first appearance", () => {
    const [a, b, c] = sampleCodes(3, 11) as [string, string, string];
    const text = `${formatReference(c)} ${a} ${b.toLowerCase()} ${c} ${a} ${CUSTOMER_WRONG_CHECK}, ${CUSTOMER_WRONG_CHECK}`;
    const customers = [c, a, b].filter((code) => code.startsWith("CR"));
    const merchants = [c, a, b].filter((code) => code.startsWith("MR"));
    expect(customers.length).toBeGreaterThan(0);
    expect(merchants.length).toBeGreaterThan(0);
    expect(findReferences(text)).toEqual({ customer: customers, merchant: merchants, malformed: [CUSTOMER_WRONG_CHECK] });
  });

  it("finds nothing in text without references", () => {
    for (const text of ["", "CR", "MR-", "transferencia varios", "cr 7k4p", "CRÉDITO", "pago cuota 12/24", CUSTOMER.slice(0, 9)]) {
      expect(findReferences(text), JSON.stringify(text)).toEqual(none);
    }
  });

  it("finds issued codes whatever symbols follow them (no candidate starts inside an issued code)", () => {
    const bytes = seededBytes(31);
    for (const code of sampleCodes(300, 13)) {
      const length = 1 + (bytes(1)[0]! % 12);
      let suffix = "";
      for (const byte of bytes(length)) suffix += ISSUED_BODY[byte % ISSUED_BODY.length];
      expect(findReferences(`${code}${suffix}`), `${code}${suffix}`).toEqual(only(code));
    }
  });

  it("finds many issued codes glued together", () => {
    const codes = sampleCodes(REFERENCE_SCAN_LIMIT_CHARS / REFERENCE_LENGTH, 17);
    const found = findReferences(codes.join(""));
    expect(found.malformed).toEqual([]);
    expect(found.customer).toEqual(codes.filter((code) => code.startsWith("CR")));
    expect(found.merchant).toEqual(codes.filter((code) => code.startsWith("MR")));
  });

  it("reports an invalid candidate next to the valid code it overlaps", () => {
    // "MR" right before a code: MRCR7K4P9Q has a bad check; CR7K4P9QXF is still found.
    expect(findReferences(`MR${CUSTOMER}`)).toEqual({ ...none, customer: [CUSTOMER], malformed: ["MRCR7K4P9Q"] });
    expect(findReferences(`mr ${formatReference(CUSTOMER)}`)).toEqual({ ...none, customer: [CUSTOMER], malformed: ["MRCR7K4P9Q"] });
    // A (never issued) code containing "CR", followed by text: CR3456Z22A has a bad check.
    expect(findReferences("MR-2CR3-456Z 22A")).toEqual({ ...none, merchant: ["MR2CR3456Z"], malformed: ["CR3456Z22A"] });
  });

  it("quarantines overlapping candidates that are both valid", () => {
    // MR2PCR7K4P and CR7K4P9QXF both pass the check: we cannot tell which was meant.
    expect(normalizeReference("MR2PCR7K4P")).toBe("MR2PCR7K4P");
    expect(findReferences(`MR2P${CUSTOMER}`)).toEqual({ ...none, malformed: ["MR2PCR7K4P", CUSTOMER] });
    // MR2CR3456Z and CR3456Z22T both pass the check.
    expect(normalizeReference("CR3456Z22T")).toBe("CR3456Z22T");
    expect(findReferences("MR2CR3456Z 22T")).toEqual({ ...none, malformed: ["MR2CR3456Z", "CR3456Z22T"] });
  });

  it("can mistake ordinary words for a malformed code (known cost of ignoring spaces)", () => {
    // "Mr Ferrer paga" → MRFERRERPAGA → MRFERRERPA has the shape; its check fails.
    expect(findReferences("Mr Ferrer paga")).toEqual({ ...none, malformed: ["MRFERRERPA"] });
  });

  it("treats emoji and other non-ASCII characters as separators", () => {
    expect(findReferences(`💸pago ${CUSTOMER}✅ ñandú`)).toEqual(only(CUSTOMER));
    expect(findReferences(`💸${CUSTOMER}💸`)).toEqual(only(CUSTOMER));
    expect(findReferences("CR7K4P💸9QXF")).toEqual(none);
    expect(findReferences("CR7K4PÑ9QXF")).toEqual(none);
  });

  it("ignores zero-width and no-break characters inside a code", () => {
    expect(findReferences("CR7K\u200B4P9Q\u00A0XF")).toEqual(only(CUSTOMER));
  });

  it("scans only the first REFERENCE_SCAN_LIMIT_CHARS characters", () => {
    expect(REFERENCE_SCAN_LIMIT_CHARS).toBe(1000);
    const inside = "x".repeat(REFERENCE_SCAN_LIMIT_CHARS - REFERENCE_LENGTH) + CUSTOMER;
    expect(findReferences(inside)).toEqual(only(CUSTOMER));
    // A code cut by the limit is not reported at all, not even as malformed.
    const straddling = "x".repeat(REFERENCE_SCAN_LIMIT_CHARS - 5) + CUSTOMER;
    expect(findReferences(straddling)).toEqual(none);
    // Spaces count towards the limit: it bounds the raw text, before they are removed.
    const spaced = " ".repeat(REFERENCE_SCAN_LIMIT_CHARS - 5) + CUSTOMER;
    expect(findReferences(spaced)).toEqual(none);
    expect(findReferences("x".repeat(5000) + CUSTOMER)).toEqual(none);
  });

  it("handles huge and adversarial inputs", () => {
    expect(findReferences(`${CUSTOMER} ${"a".repeat(1_000_000)}`)).toEqual(only(CUSTOMER));
    // A candidate at every other position, all the same invalid string.
    expect(findReferences("CR".repeat(2000))).toEqual({ ...none, malformed: ["CRCRCRCRCR"] });
    const digits = findReferences("MR" + "2".repeat(5000));
    expect(digits).toEqual({ ...none, malformed: ["MR22222222"] });
  });

  it("finds each of many generated codes embedded in prose", () => {
    for (const code of sampleCodes(100, 5)) {
      const text = `Transferencia ${formatReference(code).toLowerCase()} — gracias!`;
      expect(findReferences(text), text).toEqual(only(code));
    }
  });
});

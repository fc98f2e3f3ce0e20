/**
 * Deposit reference codes: what a payer types into a bank transfer's free-text description
 * ("concepto") so that we can tell whose money it is.
 *
 *   normalized  CR7K4P9QXF     display  CR-7K4P-9QXF
 *               ^^ prefix: CR = customer reference, MR = merchant reference
 *                 ^^^^^^^ 7 random payload symbols
 *                        ^ 1 check symbol
 *
 * People retype these by hand, so the design goal is: a typo must never turn one valid code
 * into another valid code (which would credit someone else). Hence a check symbol, and an
 * alphabet whose size is prime.
 *
 * Alphabet: digits 2–9 plus the 20 letters left after dropping the look-alikes I L O U S Z
 * (28 symbols), plus Z taken back: 29 in all. 0/1/I/L/O/U are never used (0↔O, 1↔I↔L, U↔V,
 * and without U fewer accidental words). 28 is not prime, so one of S/Z had to come back.
 * We took Z: S is one of the most frequent letters in Spanish while Z is rare, and since the
 * scanner below glues words together (it drops spaces), every extra common letter makes
 * ordinary words look like code candidates. Z↔2 is a look-alike, but a mistyped symbol is
 * always caught by the check (see proof), so a look-alike costs a retry, never money.
 *
 * Check symbol. Read the code as 10 symbols v₀…v₉ (prefix letters included: C, M and R are
 * alphabet symbols too), each valued by its index in the alphabet, and give position i the
 * weight wᵢ = 10 − i (10, 9, …, 2 for the first nine, 1 for the check symbol). A code is
 * valid iff
 *
 *     Σ wᵢ·vᵢ ≡ 0 (mod 29).
 *
 * Claim: every single-symbol substitution and every transposition of two different symbols
 * (adjacent or not, prefix and check symbol included) turns a valid code into an invalid one.
 *   - Substitution at i, vᵢ → vᵢ + δ with 0 < |δ| ≤ 28: the sum changes by wᵢ·δ. 29 is prime,
 *     1 ≤ wᵢ ≤ 10 and 1 ≤ |δ| ≤ 28, so 29 divides neither factor, hence not their product.
 *   - Swap of positions i ≠ j with vᵢ ≠ vⱼ: the sum changes by (wᵢ − wⱼ)·(vⱼ − vᵢ), with
 *     1 ≤ |wᵢ − wⱼ| ≤ 9 and 1 ≤ |vⱼ − vᵢ| ≤ 28: same argument.
 * Because the prefix is inside the sum, CR→MR is just a substitution: a customer code can
 * never be read as a valid merchant code. (A substitution with a symbol outside the alphabet
 * fails the shape test instead.) Two or more independent errors pass with probability ~1/29,
 * and then still have to land on a code that was actually issued to credit anyone.
 */

export const REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRTVWXYZ";
const MODULUS = 29; // must equal REFERENCE_ALPHABET.length and be prime (see the proof above)
const PAYLOAD_LENGTH = 7;
/** Length of a normalized code: 2 prefix letters + 7 payload symbols + 1 check symbol. */
export const REFERENCE_LENGTH = 10;
/**
 * findReferences only looks at this many UTF-16 code units of the text (the concepto limit):
 * the scan stays bounded whatever a bank sends us. Anything past it is ignored entirely, and
 * a code cut in half by the limit is not reported at all (not even as malformed).
 */
export const REFERENCE_SCAN_LIMIT_CHARS = 1000;

export type ReferenceKind = "customer" | "merchant";
export type RandomBytes = (n: number) => Uint8Array;
export interface FoundReferences {
  customer: string[];
  merchant: string[];
  malformed: string[];
}

const PREFIXES: Record<ReferenceKind, string> = { customer: "CR", merchant: "MR" };

// charCode → alphabet index, −1 for everything else. Only ASCII upper case is listed: the
// input is upper-cased ASCII-only first (see canonicalize), never with Unicode case mapping.
const SYMBOL_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < REFERENCE_ALPHABET.length; i++) SYMBOL_VALUES[REFERENCE_ALPHABET.charCodeAt(i)] = i;

function symbolValue(charCode: number): number {
  return charCode < 128 ? SYMBOL_VALUES[charCode]! : -1;
}

/**
 * What people put inside a code that we ignore: any whitespace (incl. NBSP, which banking
 * apps love), ASCII and Unicode hyphens/dashes/minus (copy-paste "prettifies" them), and the
 * invisible soft hyphen, zero-width space/joiners and word joiner.
 */
const IGNORABLE = /[\s\u00AD\u200B-\u200D\u2060\u2010-\u2015\u2212-]/g;

/**
 * Removes ignorable characters and upper-cases ASCII letters only. Unicode case mapping is
 * avoided on purpose: "ſ".toUpperCase() is "S", "ı" becomes "I", "ß" becomes "SS"; we don't
 * want non-ASCII text turning into code symbols. Every other character is kept and, not
 * being an alphabet symbol, acts as a separator.
 */
function canonicalize(text: string): string {
  return text.replace(IGNORABLE, "").replace(/[a-z]+/g, (letters) => letters.toUpperCase());
}

function kindOfPrefix(first: number, second: number): ReferenceKind | null {
  if (second !== 82 /* R */) return null;
  if (first === 67 /* C */) return "customer";
  if (first === 77 /* M */) return "merchant";
  return null;
}

/** Σ wᵢ·vᵢ mod 29 over `count` symbols of `text` from `start`, wᵢ = 10 − i. −1 if a non-symbol. */
function weightedSum(text: string, start: number, count: number): number {
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const value = symbolValue(text.charCodeAt(start + i));
    if (value < 0) return -1;
    sum += (REFERENCE_LENGTH - i) * value;
  }
  return sum % MODULUS;
}

/** True when text[start…start+10) is CR/MR + 8 alphabet symbols (check not verified). */
function hasShapeAt(text: string, start: number): boolean {
  if (start + REFERENCE_LENGTH > text.length) return false;
  if (kindOfPrefix(text.charCodeAt(start), text.charCodeAt(start + 1)) === null) return false;
  for (let i = 2; i < REFERENCE_LENGTH; i++) if (symbolValue(text.charCodeAt(start + i)) < 0) return false;
  return true;
}

function hasValidCheckAt(text: string, start: number): boolean {
  return weightedSum(text, start, REFERENCE_LENGTH) === 0;
}

const defaultRandomBytes: RandomBytes = (n) => crypto.getRandomValues(new Uint8Array(n));

/**
 * Issued codes never contain C or M after the prefix (payload and check symbol). Any code
 * the parser accepts may contain them; we just never hand them out. Why: findReferences has
 * to ignore word boundaries, so if an issued code could contain "CR"/"MR", a second candidate
 * would start inside it and run on into the following words ("…CR3456Z" + "GRACIAS"), and
 * ~1.7% of codes would get their payments quarantined whenever the payer wrote anything after
 * them. With this rule, no candidate can start inside a correctly typed issued code, and any
 * candidate overlapping one contains its C/M prefix letter past its own prefix, so it can never
 * be an issued code itself. Cost: 27⁷·27/29 ≈ 9.6·10⁹ codes per kind instead of 1.7·10¹⁰.
 */
const ISSUED_BODY_ALPHABET = REFERENCE_ALPHABET.replace(/[CM]/g, "");
// Largest multiple of 27 that fits in a byte: bytes at or above it are rejected so that every
// symbol is equally likely (243 = 9·27; plain `byte % 27` would favour the first 13 symbols).
const BYTE_LIMIT = Math.floor(256 / ISSUED_BODY_ALPHABET.length) * ISSUED_BODY_ALPHABET.length;
// A round of draws only fails to make progress if all its bytes are ≥ 243 (p ≤ 13/256), and a
// whole code is only redrawn if its check symbol is C or M (p = 2/29), so neither cap is ever
// reached in practice; they turn a broken `randomBytes` into an error, not an endless loop.
const MAX_RANDOM_ROUNDS = 64;
const MAX_CODE_ATTEMPTS = 64;

function randomPayload(randomBytes: RandomBytes): string {
  let payload = "";
  for (let round = 0; payload.length < PAYLOAD_LENGTH; round++) {
    if (round >= MAX_RANDOM_ROUNDS) throw new Error("generateReference: randomBytes keeps returning rejected bytes");
    const wanted = PAYLOAD_LENGTH - payload.length;
    const bytes = randomBytes(wanted);
    if (bytes.length < wanted) throw new Error("generateReference: randomBytes returned too few bytes");
    // Take at most `wanted` symbols per round so the payload never overshoots.
    for (let i = 0; i < wanted; i++) {
      const byte = bytes[i]!;
      if (byte < BYTE_LIMIT) payload += ISSUED_BODY_ALPHABET[byte % ISSUED_BODY_ALPHABET.length];
    }
  }
  return payload;
}

/**
 * A fresh normalized code of the given kind, uniformly distributed over the codes we issue
 * (see ISSUED_BODY_ALPHABET). `randomBytes` is injectable for reproducible tests; it defaults
 * to crypto.getRandomValues. Uniqueness is the caller's job (UNIQUE constraint plus a retry).
 */
export function generateReference(kind: ReferenceKind, randomBytes: RandomBytes = defaultRandomBytes): string {
  const prefix = PREFIXES[kind];
  if (prefix === undefined) throw new RangeError(`generateReference: unknown kind ${String(kind)}`);
  for (let attempt = 0; attempt < MAX_CODE_ATTEMPTS; attempt++) {
    const body = prefix + randomPayload(randomBytes);
    // The check symbol has weight 1, so it is simply what brings the sum to 0 mod 29.
    const check = REFERENCE_ALPHABET[(MODULUS - weightedSum(body, 0, REFERENCE_LENGTH - 1)) % MODULUS]!;
    // Redrawing the whole payload (not patching it) keeps the result uniform.
    if (check !== "C" && check !== "M") return body + check;
  }
  throw new Error("generateReference: randomBytes keeps producing unusable codes");
}

/**
 * The normalized code (upper case, no separators) if `input` is exactly one code with a valid
 * check symbol, else null. Accepts any case, spaces and dashes anywhere.
 */
export function normalizeReference(input: string): string | null {
  const code = canonicalize(input);
  if (code.length !== REFERENCE_LENGTH || !hasShapeAt(code, 0) || !hasValidCheckAt(code, 0)) return null;
  return code;
}

function requireReference(code: string, caller: string): string {
  const normalized = normalizeReference(code);
  if (normalized === null) throw new RangeError(`${caller}: not a valid reference code`);
  return normalized;
}

/** Display form `CR-7K4P-9QXF`. Throws on an invalid code rather than display a wrong one. */
export function formatReference(code: string): string {
  const normalized = requireReference(code, "formatReference");
  return `${normalized.slice(0, 2)}-${normalized.slice(2, 6)}-${normalized.slice(6)}`;
}

/**
 * Whose code this is, from its prefix. Throws on an invalid code: the prefix of a code whose
 * check symbol fails is exactly the thing a typo may have changed.
 */
export function referenceKind(code: string): ReferenceKind {
  const normalized = requireReference(code, "referenceKind");
  return kindOfPrefix(normalized.charCodeAt(0), normalized.charCodeAt(1))!;
}

/**
 * Every reference in a free-text concepto, deduplicated, in order of first appearance.
 *
 * Spaces and dashes are removed first (people write "cr 7k4p-9qxf"), so word boundaries are
 * gone: a code is often glued to the next word ("CR7K4P9QXFGRACIAS"). A candidate is
 * therefore any CR/MR followed by 8 alphabet symbols, whatever comes before or after it.
 *
 *   - a candidate whose check symbol fails → malformed, always: routing quarantines the
 *     payment, so a typo is never guessed into someone's account;
 *   - a valid candidate overlapping another valid one ("MR2P" + "CR7K4P9QXF" reads as both
 *     MR2PCR7K4P and CR7K4P9QXF) → malformed too: we cannot tell which one the payer meant;
 *   - any other valid candidate → customer or merchant, by prefix.
 * A valid code overlapped only by an invalid candidate ("MRCR7K4P9QXF") is still reported,
 * next to the malformed one; whether to quarantine is routing's call (it should, since
 * malformed is non-empty). Issued codes never produce such overlaps themselves (see
 * ISSUED_BODY_ALPHABET); only surrounding text or a typo can. The same code may appear in
 * two lists if it occurs twice in different situations.
 *
 * O(n): at most one candidate starts per position, each is checked in constant time, and each
 * valid one looks at most 9 positions either side for another valid one.
 */
export function findReferences(text: string): FoundReferences {
  const scanned = canonicalize(text.slice(0, REFERENCE_SCAN_LIMIT_CHARS));
  const found: FoundReferences = { customer: [], merchant: [], malformed: [] };

  const starts: number[] = [];
  const validAt = new Uint8Array(scanned.length); // 1 where a candidate with a valid check starts
  for (let start = 0; start + REFERENCE_LENGTH <= scanned.length; start++) {
    if (!hasShapeAt(scanned, start)) continue;
    starts.push(start);
    if (hasValidCheckAt(scanned, start)) validAt[start] = 1;
  }

  const seen = { customer: new Set<string>(), merchant: new Set<string>(), malformed: new Set<string>() };
  const add = (list: keyof FoundReferences, code: string): void => {
    if (seen[list].has(code)) return;
    seen[list].add(code);
    found[list].push(code);
  };

  for (const start of starts) {
    const code = scanned.slice(start, start + REFERENCE_LENGTH);
    if (validAt[start] !== 1) {
      add("malformed", code);
      continue;
    }
    let ambiguous = false;
    const from = Math.max(0, start - REFERENCE_LENGTH + 1);
    const to = Math.min(scanned.length - 1, start + REFERENCE_LENGTH - 1);
    for (let other = from; other <= to && !ambiguous; other++) {
      if (other !== start && validAt[other] === 1) ambiguous = true;
    }
    add(ambiguous ? "malformed" : kindOfPrefix(code.charCodeAt(0), code.charCodeAt(1))!, code);
  }
  return found;
}

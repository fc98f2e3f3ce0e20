/**
 * CUIT/CUIL: Argentina's 11-digit tax id, written `XX-XXXXXXXX-X` (type, number, check digit).
 *
 * We store and compare only the 11 bare digits, so every entry point goes through
 * `normalizeCuit`. Input is deliberately strict: digits and dashes only. Spaces, dots and
 * letters are refused rather than silently stripped, because a CUIT that arrives with
 * anything else in it came from somewhere we do not understand (a pasted sentence, a DNI
 * with dots) and guessing could tie money to the wrong person.
 *
 * The check digit is mod 11 with weights 5,4,3,2,7,6,5,4,3,2. Every weight (and the implicit
 * weight 1 of the check digit) is non-zero mod 11 and adjacent weights differ mod 11, so
 * every single wrong digit and every swap of two adjacent digits is caught.
 */

const CUIT_LENGTH_DIGITS = 11;
const CUIT_WEIGHTS = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2] as const;

/**
 * The check digit for the first 10 digits, or null when the remainder gives 10: AFIP never
 * issues such numbers (it changes the type prefix to 23/33 instead), so they are invalid.
 */
function cuitCheckDigit(first10: string): number | null {
  let sum = 0;
  for (let i = 0; i < CUIT_WEIGHTS.length; i++) {
    sum += Number(first10[i]) * CUIT_WEIGHTS[i]!;
  }
  const r = 11 - (sum % 11);
  if (r === 11) return 0;
  if (r === 10) return null;
  return r;
}

/**
 * The 11 bare digits if `input` is a CUIT with a valid check digit, else null.
 * Accepts dashes anywhere (people put them in odd places) and nothing else.
 */
export function normalizeCuit(input: string): string | null {
  // Regex on ASCII digits only: `[0-9]`, not a Unicode digit class, so "２０…" is refused.
  if (!/^[0-9-]+$/.test(input)) return null;
  const digits = input.replaceAll("-", "");
  if (digits.length !== CUIT_LENGTH_DIGITS) return null;
  const check = cuitCheckDigit(digits.slice(0, 10));
  if (check === null || check !== Number(digits[10])) return null;
  return digits;
}

export function isValidCuit(input: string): boolean {
  return normalizeCuit(input) !== null;
}

/**
 * Display form `XX-XXXXXXXX-X`. Throws on anything that is not a valid CUIT: displaying an
 * invalid one as if it were fine would hide the problem from the person reading it.
 */
export function formatCuit(digits: string): string {
  const normalized = normalizeCuit(digits);
  if (normalized === null) throw new RangeError("formatCuit: not a valid CUIT");
  return `${normalized.slice(0, 2)}-${normalized.slice(2, 10)}-${normalized.slice(10)}`;
}

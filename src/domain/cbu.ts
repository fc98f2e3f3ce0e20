/**
 * CBU (and CVU, which uses the same layout and algorithm): Argentina's 22-digit bank account
 * number. Two blocks, each closed by its own check digit:
 *
 *   digits 1–8   bank (3) + branch (4) + check digit 1
 *   digits 9–22  account (13)           + check digit 2
 *
 * Each check digit is `(10 − (Σ wᵢ·dᵢ mod 10)) mod 10`, i.e. the block's weighted sum plus
 * the check digit is ≡ 0 (mod 10). The weights (1, 3, 7, 9) are all coprime with 10, so any
 * single wrong digit is caught. Adjacent swaps are caught unless the two digits differ by
 * exactly 5 (adjacent weights differ by an even number, and 2·5 ≡ 0 mod 10) — a known
 * weakness of the BCRA scheme, not something we can fix here.
 *
 * Input is digits with optional dashes (as for CUIT); spaces and anything else are refused.
 */

const CBU_LENGTH_DIGITS = 22;
const BLOCK1_WEIGHTS = [7, 1, 3, 9, 7, 1, 3] as const;
const BLOCK2_WEIGHTS = [3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3] as const;

function checkDigit(digits: string, weights: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < weights.length; i++) sum += Number(digits[i]) * weights[i]!;
  return (10 - (sum % 10)) % 10;
}

/** The 22 bare digits if `input` is a CBU whose two check digits are valid, else null. */
export function normalizeCbu(input: string): string | null {
  if (!/^[0-9-]+$/.test(input)) return null;
  const digits = input.replaceAll("-", "");
  if (digits.length !== CBU_LENGTH_DIGITS) return null;
  if (checkDigit(digits.slice(0, 7), BLOCK1_WEIGHTS) !== Number(digits[7])) return null;
  if (checkDigit(digits.slice(8, 21), BLOCK2_WEIGHTS) !== Number(digits[21])) return null;
  return digits;
}

export function isValidCbu(input: string): boolean {
  return normalizeCbu(input) !== null;
}

/**
 * Builds a valid CBU/CVU from its payload: `first7` (bank + branch, or the PSP's CVU prefix)
 * and `middle13` (the account number), inserting both check digits. Used to mint virtual
 * account numbers; throws on malformed parts because a silently wrong account number is
 * worse than a crash.
 */
export function makeCbu(first7: string, middle13: string): string {
  if (!/^[0-9]{7}$/.test(first7)) throw new RangeError("makeCbu: first7 must be 7 digits");
  if (!/^[0-9]{13}$/.test(middle13)) throw new RangeError("makeCbu: middle13 must be 13 digits");
  return `${first7}${checkDigit(first7, BLOCK1_WEIGHTS)}${middle13}${checkDigit(middle13, BLOCK2_WEIGHTS)}`;
}

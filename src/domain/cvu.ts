/**
 * CVU: the 22-digit number of a virtual account (API §11, BCRA's layout):
 *
 *   000 + PSP code (4) + check digit + 0 + account number (12) + check digit
 *
 * Both check digits as for a CBU (src/domain/cbu.ts), so a CVU passes the CBU validator. The
 * 12-digit account number is the allocator's sequence number (migrations/0011), so two
 * accounts never share a CVU and none is ever reused.
 */
import { makeCbu, normalizeCbu } from "./cbu";

export const CVU_ACCOUNT_NUMBER_MAX = 999_999_999_999;

/** The CVU of account number `seq` in the range of PSP `pspCode` (4 digits). */
export function cvuOf(pspCode: string, seq: number): string {
  if (!/^[0-9]{4}$/.test(pspCode)) throw new RangeError("cvuOf: the PSP code must be 4 digits");
  if (!Number.isSafeInteger(seq) || seq < 1 || seq > CVU_ACCOUNT_NUMBER_MAX) throw new RangeError("cvuOf: the account number must be 1..999999999999");
  return makeCbu(`000${pspCode}`, `0${String(seq).padStart(12, "0")}`);
}

/**
 * Whether `accountNumber` lies in our PSP's CVU range: its prefix is ours. Check digits are not
 * required here: a mistyped number of our range is still money sent to us (it is quarantined
 * when we never issued it, never dropped).
 */
export function isInCvuRange(accountNumber: string, pspCode: string): boolean {
  return /^[0-9]{22}$/.test(accountNumber) && accountNumber.startsWith(`000${pspCode}`);
}

/** The 22 bare digits of a well-formed CVU of PSP `pspCode` (check digits valid), else null. */
export function normalizeCvu(input: string, pspCode: string): string | null {
  const digits = normalizeCbu(input);
  return digits && isInCvuRange(digits, pspCode) && digits[8] === "0" ? digits : null;
}

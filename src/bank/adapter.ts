/**
 * The bank, as the rest of the service sees it. Nothing outside src/bank/ knows whether it
 * talks to the sandbox or to a real bank.
 */
import type { Config, Env } from "../env";

export interface PayoutSubmission {
  payout_id: string;
  amount: number;
  currency: string;
  destination_cbu: string;
  description: string | null;
}

export type SubmissionResult = { status: "accepted" } | { status: "rejected"; reason: string };

export interface StatementLine {
  bank_transaction_id: string;
  direction: "credit" | "debit";
  amount: number;
  currency: string;
  booked_at: string;
  business_date: string;
  counterparty: { cuit: string | null; name: string | null; cbu: string | null };
  account_number: string | null;
  concepto: string | null;
  payout_id: string | null;
  /** Where reading resumes after this line: a cursor for `statement()`. */
  position: string;
}

export interface StatementPage {
  lines: StatementLine[];
  next_cursor: string | null;
}

/** A failure that may pass: the caller retries with backoff. */
export class TransientBankError extends Error {}

export interface BankAdapter {
  /** Idempotent by payout id: submitting twice pays once. */
  submitPayout(submission: PayoutSubmission): Promise<SubmissionResult>;
  /** One page of the statement of a business day (YYYY-MM-DD, Buenos Aires). */
  statement(date: string, cursor: string | null, limit: number): Promise<StatementPage>;
  /** Makes an account number routable to our settlement account (API §11). Idempotent. */
  registerVirtualAccount(accountNumber: string): Promise<void>;
}

/** Where a real bank's adapter plugs in. Until one exists, every call fails transiently. */
class UnconfiguredBank implements BankAdapter {
  async submitPayout(): Promise<SubmissionResult> {
    throw new TransientBankError("no bank adapter is configured (set SANDBOX=true for the sandbox bank)");
  }
  async statement(): Promise<StatementPage> {
    throw new TransientBankError("no bank adapter is configured");
  }
  async registerVirtualAccount(): Promise<void> {
    throw new TransientBankError("no bank adapter is configured");
  }
}

export function bankAdapter(env: Env, config: Config): BankAdapter {
  if (!config.sandbox) return new UnconfiguredBank();
  const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
  return {
    // Errors do not keep their class across an RPC boundary: any failure to reach the sandbox
    // bank is transient, as a network failure to a real one would be.
    submitPayout: async (submission) => {
      try {
        return await bank.submitPayout(submission);
      } catch (error) {
        throw new TransientBankError(String(error));
      }
    },
    statement: (date, cursor, limit) => bank.statement(date, cursor, limit),
    registerVirtualAccount: (accountNumber) => bank.registerVirtualAccount(accountNumber),
  };
}

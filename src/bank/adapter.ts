/**
 * The bank, as the rest of the service sees it. Nothing outside src/bank/ knows whether it
 * talks to the sandbox or to a real bank.
 */
import type { Config, Env } from "../env";
import type { SandboxUnavailable } from "./sandbox-bank";

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

/** Who holds an account, as the bank reports it (COELSA's *titularidad* check in production). */
export interface AccountHolder {
  /** 11 bare digits. */
  cuit: string;
  name: string | null;
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
  /**
   * The holder of a CBU (22 bare digits), or null when the bank does not know the account.
   * Backs the own-account rule of payouts (API §7); a failure to ask is transient.
   */
  accountHolder(cbu: string): Promise<AccountHolder | null>;
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
  async accountHolder(): Promise<AccountHolder | null> {
    throw new TransientBankError("no bank adapter is configured");
  }
}

/** Errors do not keep their class across an RPC boundary: any failure to reach the sandbox bank is transient. */
async function transient<T>(call: () => PromiseLike<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw new TransientBankError(String(error));
  }
}

/** The sandbox bank answers a planned failure instead of throwing it (sandbox-bank.ts): throw it here. */
async function available<T>(call: () => PromiseLike<T | SandboxUnavailable>): Promise<T> {
  const result = await transient(call);
  if (typeof result === "object" && result !== null && "unavailable" in result) throw new TransientBankError(result.unavailable);
  return result;
}

export function bankAdapter(env: Env, config: Config): BankAdapter {
  if (!config.sandbox) return new UnconfiguredBank();
  const bank = env.SANDBOX_BANK.get(env.SANDBOX_BANK.idFromName("sandbox"));
  // Any failure to reach the sandbox bank is transient, as a network failure to a real one would be.
  return {
    submitPayout: (submission) => available<SubmissionResult>(() => bank.submitPayout(submission)),
    statement: (date, cursor, limit) => bank.statement(date, cursor, limit),
    registerVirtualAccount: async (accountNumber) => {
      await available<null>(() => bank.registerVirtualAccount(accountNumber));
    },
    accountHolder: (cbu) => transient<AccountHolder | null>(() => bank.accountHolder(cbu)),
  };
}

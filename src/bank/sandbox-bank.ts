import { DurableObject } from "cloudflare:workers";
import { randomToken } from "../crypto";
import { businessDateOf } from "../domain/business-day";
import { normalizeCuit } from "../domain/cuit";
import type { Env } from "../env";
import type { AccountHolder, PayoutSubmission, StatementLine, StatementPage, SubmissionResult } from "./adapter";

/**
 * A planned transient failure (POST /v1/sandbox/faults), returned rather than thrown: an
 * exception thrown by a Durable Object's RPC method is logged by the runtime as an uncaught
 * exception of the object, as if the bank had crashed. The adapter (adapter.ts) turns it into a
 * TransientBankError on the caller's side, where it is handled like any unreachable bank.
 */
export interface SandboxUnavailable {
  unavailable: string;
}
const unavailable: SandboxUnavailable = { unavailable: "sandbox bank: temporarily unavailable" };

/**
 * The sandbox bank (API §10). It *is* the bank: its statement and its payouts live in its own
 * storage, separate from our D1, so reconciliation compares two independent records.
 * One instance, named "sandbox".
 */
export interface BookTransferInput {
  amount: number;
  currency: string;
  sender: { cuit: string | null; name: string | null; cbu: string | null };
  account_number: string | null;
  concepto: string | null;
  booked_at_ms?: number;
  bank_transaction_id?: string;
}

/** An account holder registered with the sandbox bank (POST /v1/sandbox/accounts). */
export interface SandboxAccount {
  cbu: string;
  holder_cuit: string;
  holder_name: string;
  registered_at: number;
}

export type RegisterAccountResult =
  | { status: "created" | "existing"; account: SandboxAccount }
  | { status: "conflict"; holder: AccountHolder };

/** The faults the sandbox can be told to inject: how many of the next calls of each kind fail transiently. */
export interface FaultPlan {
  register_virtual_account: number;
  submit_payout: number;
}

/** failure_plan rows: transient and permanent payout submissions, transient virtual account registrations. */
type FailureKind = "transient" | "permanent" | "register_virtual_account";

/** Statement lines read to find a CBU's holder among the senders (the first with a valid CUIT wins). */
const holderLookupLines = 20;

export type SettleResult =
  | { ok: true; line: StatementLine | null; bank_transaction_id: string | null }
  | { ok: false; reason: "unknown_payout" | "not_processing"; status?: string };

export class SandboxBank extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`
        CREATE TABLE IF NOT EXISTS statement_lines (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          bank_transaction_id TEXT NOT NULL UNIQUE,
          direction TEXT NOT NULL,
          amount INTEGER NOT NULL,
          currency TEXT NOT NULL,
          booked_at INTEGER NOT NULL,
          business_date TEXT NOT NULL,
          counterparty_cuit TEXT, counterparty_name TEXT, counterparty_cbu TEXT,
          account_number TEXT, concepto TEXT, payout_id TEXT
        );
        CREATE INDEX IF NOT EXISTS statement_by_date ON statement_lines(business_date, seq);
        CREATE TABLE IF NOT EXISTS payouts (
          payout_id TEXT PRIMARY KEY,
          amount INTEGER NOT NULL, currency TEXT NOT NULL, destination_cbu TEXT NOT NULL,
          status TEXT NOT NULL, bank_transaction_id TEXT, submitted_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS virtual_accounts (account_number TEXT PRIMARY KEY, registered_at INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS failure_plan (kind TEXT PRIMARY KEY, remaining INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS account_holders (
          cbu TEXT PRIMARY KEY, holder_cuit TEXT NOT NULL, holder_name TEXT NOT NULL, registered_at INTEGER NOT NULL
        );
        -- Senders are booked as the transfer gave them (dashes or not): look them up without dashes.
        CREATE INDEX IF NOT EXISTS statement_by_counterparty ON statement_lines(REPLACE(counterparty_cbu, '-', ''));
      `);
    });
  }

  /** Books an incoming transfer on the statement (its webhook is delivered by the caller). */
  async bookTransfer(input: BookTransferInput): Promise<StatementLine> {
    const booked_at = input.booked_at_ms ?? Date.now();
    const bank_transaction_id = input.bank_transaction_id ?? `bt_${randomToken(20)}`;
    this.sql.exec(
      `INSERT INTO statement_lines (bank_transaction_id, direction, amount, currency, booked_at, business_date,
         counterparty_cuit, counterparty_name, counterparty_cbu, account_number, concepto, payout_id)
       VALUES (?, 'credit', ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
      bank_transaction_id,
      input.amount,
      input.currency,
      booked_at,
      businessDateOf(booked_at),
      input.sender.cuit,
      input.sender.name,
      input.sender.cbu,
      input.account_number,
      input.concepto,
    );
    return this.line(bank_transaction_id)!;
  }

  /**
   * Tests and benchmarks: books many incoming transfers at once (no webhooks), e.g. a large
   * day to reconcile. Returns how many lines the statement gained.
   */
  async seedStatement(lines: (Omit<BookTransferInput, "booked_at_ms"> & { booked_at_ms: number; bank_transaction_id: string })[]): Promise<number> {
    let added = 0;
    this.ctx.storage.transactionSync(() => {
      for (const line of lines) {
        this.sql.exec(
          `INSERT OR IGNORE INTO statement_lines (bank_transaction_id, direction, amount, currency, booked_at, business_date,
             counterparty_cuit, counterparty_name, counterparty_cbu, account_number, concepto, payout_id)
           VALUES (?, 'credit', ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
          line.bank_transaction_id,
          line.amount,
          line.currency,
          line.booked_at_ms,
          businessDateOf(line.booked_at_ms),
          line.sender.cuit,
          line.sender.name,
          line.sender.cbu,
          line.account_number,
          line.concepto,
        );
        added += this.sql.exec("SELECT changes() AS changed").one().changed as number;
      }
    });
    return added;
  }

  /** Tests and demos: make the next `count` submissions fail, transiently or permanently. */
  async planSubmissionFailures(kind: "transient" | "permanent", count: number): Promise<void> {
    this.setPlannedFailures(kind, count);
  }

  /**
   * POST /v1/sandbox/faults: the next `n` calls of each kind given fail transiently (a kind
   * left out keeps its plan; 0 clears it). Returns the whole transient plan as it now stands.
   */
  async planFaults(plan: Partial<FaultPlan>): Promise<FaultPlan> {
    this.ctx.storage.transactionSync(() => {
      if (plan.submit_payout !== undefined) this.setPlannedFailures("transient", plan.submit_payout);
      if (plan.register_virtual_account !== undefined) this.setPlannedFailures("register_virtual_account", plan.register_virtual_account);
    });
    return { register_virtual_account: this.plannedFailures("register_virtual_account"), submit_payout: this.plannedFailures("transient") };
  }

  async submitPayout(submission: PayoutSubmission): Promise<SubmissionResult | SandboxUnavailable> {
    const existing = this.sql.exec("SELECT status FROM payouts WHERE payout_id = ?", submission.payout_id).toArray()[0];
    if (existing && existing.status !== "retry") return { status: "accepted" }; // idempotent by payout id
    if (this.takePlannedFailure("transient")) return unavailable;
    if (this.takePlannedFailure("permanent")) return { status: "rejected", reason: "sandbox bank: destination account closed" };
    this.sql.exec(
      `INSERT INTO payouts (payout_id, amount, currency, destination_cbu, status, submitted_at) VALUES (?, ?, ?, ?, 'processing', ?)
       ON CONFLICT (payout_id) DO UPDATE SET status = 'processing'`,
      submission.payout_id,
      submission.amount,
      submission.currency,
      submission.destination_cbu,
      Date.now(),
    );
    return { status: "accepted" };
  }

  /**
   * Settles a payout the bank is processing. Completed: the money leaves, a debit on the
   * statement. Failed and permanent: nothing left. Failed and not permanent: the bank
   * expects the payout to be submitted again.
   */
  async settlePayout(payoutId: string, outcome: "completed" | "failed", permanent: boolean): Promise<SettleResult> {
    const payout = this.sql.exec("SELECT * FROM payouts WHERE payout_id = ?", payoutId).toArray()[0];
    if (!payout) return { ok: false, reason: "unknown_payout" };
    if (payout.status !== "processing") return { ok: false, reason: "not_processing", status: payout.status as string };
    if (outcome === "failed") {
      this.sql.exec("UPDATE payouts SET status = ? WHERE payout_id = ?", permanent ? "failed" : "retry", payoutId);
      return { ok: true, line: null, bank_transaction_id: null };
    }
    const bank_transaction_id = `bt_${randomToken(20)}`;
    const booked_at = Date.now();
    this.sql.exec("UPDATE payouts SET status = 'completed', bank_transaction_id = ? WHERE payout_id = ?", bank_transaction_id, payoutId);
    this.sql.exec(
      `INSERT INTO statement_lines (bank_transaction_id, direction, amount, currency, booked_at, business_date,
         counterparty_cbu, payout_id) VALUES (?, 'debit', ?, ?, ?, ?, ?, ?)`,
      bank_transaction_id,
      payout.amount,
      payout.currency,
      booked_at,
      businessDateOf(booked_at),
      payout.destination_cbu,
      payoutId,
    );
    return { ok: true, line: this.line(bank_transaction_id), bank_transaction_id };
  }

  async statement(date: string, cursor: string | null, limit: number): Promise<StatementPage> {
    const after = cursor === null ? 0 : Number(cursor);
    const rows = this.sql
      .exec("SELECT * FROM statement_lines WHERE business_date = ? AND seq > ? ORDER BY seq LIMIT ?", date, Number.isSafeInteger(after) ? after : 0, limit + 1)
      .toArray();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { lines: page.map(toLine), next_cursor: rows.length > limit && last ? String(last.seq) : null };
  }

  async registerVirtualAccount(accountNumber: string): Promise<SandboxUnavailable | null> {
    if (this.takePlannedFailure("register_virtual_account")) return unavailable;
    this.sql.exec("INSERT OR IGNORE INTO virtual_accounts (account_number, registered_at) VALUES (?, ?)", accountNumber, Date.now());
    return null;
  }

  /** GET /v1/sandbox/virtual-accounts/{n}: whether the bank routes this account number to us. */
  async isVirtualAccountRegistered(accountNumber: string): Promise<boolean> {
    return this.sql.exec("SELECT 1 FROM virtual_accounts WHERE account_number = ?", accountNumber).toArray().length > 0;
  }

  /**
   * The holder of a CBU (22 bare digits): the one registered with POST /v1/sandbox/accounts,
   * else the first sender with a valid CUIT of a transfer booked from it; null for any other
   * account, as a real bank's lookup answers for an account it cannot find.
   */
  async accountHolder(cbu: string): Promise<AccountHolder | null> {
    return this.holderOf(cbu);
  }

  /** Synchronous, so that a check and the write after it cannot interleave with another call. */
  private holderOf(cbu: string): AccountHolder | null {
    const registered = this.registeredAccount(cbu);
    if (registered) return { cuit: registered.holder_cuit, name: registered.holder_name };
    const senders = this.sql
      .exec(
        `SELECT counterparty_cuit, counterparty_name FROM statement_lines
         WHERE REPLACE(counterparty_cbu, '-', '') = ? AND direction = 'credit' AND counterparty_cuit IS NOT NULL ORDER BY seq LIMIT ?`,
        cbu,
        holderLookupLines,
      )
      .toArray();
    for (const sender of senders) {
      const cuit = normalizeCuit(sender.counterparty_cuit as string);
      if (cuit) return { cuit, name: (sender.counterparty_name as string | null) ?? null };
    }
    return null;
  }

  /**
   * POST /v1/sandbox/accounts. An account has one holder: registering it again with the same
   * data is a replay; with another holder (or name), or for a CBU whose transfers came from
   * another CUIT, a conflict that changes nothing.
   */
  async registerAccount(input: { cbu: string; holder_cuit: string; holder_name: string }): Promise<RegisterAccountResult> {
    const registered = this.registeredAccount(input.cbu);
    if (registered) {
      const same = registered.holder_cuit === input.holder_cuit && registered.holder_name === input.holder_name;
      return same ? { status: "existing", account: registered } : { status: "conflict", holder: { cuit: registered.holder_cuit, name: registered.holder_name } };
    }
    const known = this.holderOf(input.cbu);
    if (known && known.cuit !== input.holder_cuit) return { status: "conflict", holder: known };
    const account: SandboxAccount = { ...input, registered_at: Date.now() };
    this.sql.exec(
      "INSERT INTO account_holders (cbu, holder_cuit, holder_name, registered_at) VALUES (?, ?, ?, ?)",
      account.cbu,
      account.holder_cuit,
      account.holder_name,
      account.registered_at,
    );
    return { status: "created", account };
  }

  private registeredAccount(cbu: string): SandboxAccount | null {
    const row = this.sql.exec("SELECT cbu, holder_cuit, holder_name, registered_at FROM account_holders WHERE cbu = ?", cbu).toArray()[0];
    return row ? (row as unknown as SandboxAccount) : null;
  }

  private setPlannedFailures(kind: FailureKind, count: number): void {
    this.sql.exec("INSERT OR REPLACE INTO failure_plan (kind, remaining) VALUES (?, ?)", kind, count);
  }

  private plannedFailures(kind: FailureKind): number {
    const row = this.sql.exec("SELECT remaining FROM failure_plan WHERE kind = ?", kind).toArray()[0];
    return row ? Math.max(0, row.remaining as number) : 0;
  }

  private takePlannedFailure(kind: FailureKind): boolean {
    const row = this.sql.exec("SELECT remaining FROM failure_plan WHERE kind = ?", kind).toArray()[0];
    if (!row || (row.remaining as number) <= 0) return false;
    this.sql.exec("UPDATE failure_plan SET remaining = remaining - 1 WHERE kind = ?", kind);
    return true;
  }

  private line(bankTransactionId: string): StatementLine | null {
    const row = this.sql.exec("SELECT * FROM statement_lines WHERE bank_transaction_id = ?", bankTransactionId).toArray()[0];
    return row ? toLine(row) : null;
  }
}

function toLine(row: Record<string, SqlStorageValue>): StatementLine {
  return {
    bank_transaction_id: row.bank_transaction_id as string,
    direction: row.direction as "credit" | "debit",
    amount: row.amount as number,
    currency: row.currency as string,
    booked_at: new Date(row.booked_at as number).toISOString(),
    business_date: row.business_date as string,
    counterparty: {
      cuit: (row.counterparty_cuit as string | null) ?? null,
      name: (row.counterparty_name as string | null) ?? null,
      cbu: (row.counterparty_cbu as string | null) ?? null,
    },
    account_number: (row.account_number as string | null) ?? null,
    concepto: (row.concepto as string | null) ?? null,
    payout_id: (row.payout_id as string | null) ?? null,
    position: String(row.seq),
  };
}

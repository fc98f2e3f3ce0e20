import { DurableObject } from "cloudflare:workers";
import { assert } from "../assert";
import type { Env } from "../env";
import { faultPoint } from "../faults";
import { accountLimits } from "../limits";
import { log } from "../log";
import { customerAccountSchema } from "./customer-account-schema";
import { applyProjection, confirmationKey, type Projection } from "./projections";

/**
 * One per customer (named by the customer id): the only place a customer's balance changes.
 *
 * Workers run one request at a time per object, and every method below checks and writes
 * inside one `transactionSync` with no `await` in between, so a balance check and the write
 * that depends on it cannot interleave with another request. Every operation is keyed by the
 * id of what caused it (payment id, payout id): applying it again returns the first result.
 *
 * The object is also the saga log of the operations it starts: each balance change stores,
 * in the same write, the projection D1 must record; the alarm replays the ones D1 has not
 * confirmed (see docs/MONEY.md).
 */

export interface Balance {
  currency: string;
  available: number;
  reserved: number;
  updated_at: number;
}

export type ReservationState = "reserved" | "settled" | "released";

export interface CreditInput {
  op_id: string;
  amount: number;
  currency: string;
  merchant_id: string | null;
  projection: Projection;
}

export interface ReserveInput {
  op_id: string;
  amount: number;
  currency: string;
  merchant_id: string;
  projection: Projection;
}

export type ReserveResult =
  | { ok: true; replayed: boolean; state: ReservationState; balance: Balance }
  | { ok: false; reason: "insufficient_funds"; balance: Balance };

export type TransitionResult =
  | { ok: true; replayed: boolean; state: ReservationState; balance: Balance }
  | { ok: false; reason: "unknown_operation" | "invalid_state"; state?: ReservationState };

export interface AccountEntry {
  seq: number;
  op_id: string;
  kind: "credit" | "revert" | "debit" | "reserve" | "settle" | "release";
  currency: string;
  available_delta: number;
  reserved_delta: number;
  created_at: number;
}

export interface Verification {
  ok: boolean;
  balances: Balance[];
  detail: string[];
  outbox: number;
}

type Row = Record<string, SqlStorageValue>;



export class CustomerAccount extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private alarmScheduled = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.migrate();
      this.alarmScheduled = (await ctx.storage.getAlarm()) !== null;
    });
  }

  private migrate(): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const current = (this.sql.exec("SELECT MAX(version) AS version FROM schema_version").one().version as number | null) ?? 0;
    for (let version = current + 1; version <= customerAccountSchema.length; version++) {
      this.ctx.storage.transactionSync(() => {
        this.sql.exec(customerAccountSchema[version - 1]!);
        this.sql.exec("INSERT INTO schema_version (version) VALUES (?)", version);
      });
    }
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────

  async balance(currency: string): Promise<Balance> {
    return this.readBalance(currency);
  }

  async entries(options: { limit: number; before_seq?: number }): Promise<AccountEntry[]> {
    const limit = Math.min(Math.max(1, options.limit), accountLimits.entries_page_max);
    const rows = this.sql
      .exec(
        "SELECT * FROM entries WHERE seq < ? ORDER BY seq DESC LIMIT ?",
        options.before_seq ?? Number.MAX_SAFE_INTEGER,
        limit,
      )
      .toArray();
    return rows as unknown as AccountEntry[];
  }

  async reservation(op_id: string): Promise<{ state: string; amount: number } | null> {
    const row = this.sql.exec("SELECT state, amount FROM operations WHERE op_id = ?", op_id).toArray()[0];
    return row ? { state: row.state as string, amount: row.amount as number } : null;
  }

  /** Balances equal the sum of this object's own entries; nothing is negative but by reversal. */
  async verify(): Promise<Verification> {
    const detail: string[] = [];
    const balances = this.sql.exec("SELECT * FROM balances ORDER BY currency").toArray() as unknown as Balance[];
    for (const balance of balances) {
      const sums = this.sql
        .exec(
          "SELECT COALESCE(SUM(available_delta), 0) AS available, COALESCE(SUM(reserved_delta), 0) AS reserved FROM entries WHERE currency = ?",
          balance.currency,
        )
        .one();
      if (sums.available !== balance.available || sums.reserved !== balance.reserved) {
        detail.push(`${balance.currency}: balance ${balance.available}/${balance.reserved} ≠ entries ${sums.available}/${sums.reserved}`);
      }
      // A negative `available` is not an inconsistency: only a bank reversal makes one, and it
      // is what the customer owes (API §7). Equality with the entries is what must hold.
    }
    const outbox = this.sql.exec("SELECT COUNT(*) AS count FROM outbox").one().count as number;
    return { ok: detail.length === 0, balances, detail, outbox };
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────

  /** A cash-in: `available` rises. Credits need no funds, so they never fail for money. */
  async credit(input: CreditInput): Promise<{ replayed: boolean; balance: Balance }> {
    assertAmount(input.amount);
    const replayed = this.ctx.storage.transactionSync(() => {
      if (this.operation(input.op_id)) return true;
      const now = Date.now();
      this.insertOperation(input.op_id, "credit", input.amount, input.currency, input.merchant_id, "applied", now);
      this.move(input.op_id, "credit", input.currency, input.amount, 0, now);
      this.enqueueProjection(input.projection, now);
      return false;
    });
    if (!replayed) await this.ensureAlarm();
    return { replayed, balance: this.readBalance(input.currency) };
  }

  /**
   * Undoes a credit that D1 shows was a duplicate (the bank sent one bank_transaction_id twice
   * with different data, and the first routing won). May leave `available` negative if the
   * duplicate was already reserved in the moment between: that is owed, and reported.
   */
  async revertCredit(op_id: string): Promise<{ reverted: boolean }> {
    const reverted = this.ctx.storage.transactionSync(() => {
      const operation = this.operation(op_id);
      if (!operation || operation.kind !== "credit" || operation.state !== "applied") return false;
      const now = Date.now();
      this.sql.exec("UPDATE operations SET state = 'reverted', updated_at = ? WHERE op_id = ?", now, op_id);
      this.move(`${op_id}:revert`, "revert", operation.currency as string, -(operation.amount as number), 0, now, { allowNegative: true });
      this.sql.exec("DELETE FROM outbox WHERE op_id = ?", op_id);
      return true;
    });
    if (reverted) log("error", "duplicate credit reverted", { op_id });
    return { reverted };
  }

  /**
   * A bank reversal (transfer.reversed): the bank clawed a credit back, so `available` falls
   * by the amount even below zero; what is below zero is owed. Reserved funds stay reserved:
   * a payout already on its way still settles.
   */
  async debit(input: CreditInput): Promise<{ replayed: boolean; balance: Balance }> {
    assertAmount(input.amount);
    const replayed = this.ctx.storage.transactionSync(() => {
      if (this.operation(input.op_id)) return true;
      const now = Date.now();
      this.insertOperation(input.op_id, "debit", input.amount, input.currency, input.merchant_id, "applied", now);
      this.move(input.op_id, "debit", input.currency, -input.amount, 0, now, { allowNegative: true });
      this.enqueueProjection(input.projection, now);
      return false;
    });
    if (!replayed) await this.ensureAlarm();
    return { replayed, balance: this.readBalance(input.currency) };
  }

  /** A payout: `available` → `reserved`, only if `available` covers it. */
  async reserve(input: ReserveInput): Promise<ReserveResult> {
    assertAmount(input.amount);
    const result = this.ctx.storage.transactionSync((): ReserveResult => {
      const existing = this.operation(input.op_id);
      if (existing) {
        return { ok: true, replayed: true, state: existing.state as ReservationState, balance: this.readBalance(input.currency) };
      }
      const balance = this.readBalance(input.currency);
      if (balance.available < input.amount) return { ok: false, reason: "insufficient_funds", balance };
      const now = Date.now();
      this.insertOperation(input.op_id, "reserve", input.amount, input.currency, input.merchant_id, "reserved", now);
      this.move(input.op_id, "reserve", input.currency, -input.amount, input.amount, now);
      this.enqueueProjection(input.projection, now);
      return { ok: true, replayed: false, state: "reserved", balance: this.readBalance(input.currency) };
    });
    if (result.ok && !result.replayed) await this.ensureAlarm();
    return result;
  }

  /** The bank paid the payout: the reservation is consumed. */
  async settle(op_id: string): Promise<TransitionResult> {
    return this.finishReservation(op_id, "settled");
  }

  /** The payout was canceled, failed permanently or rejected: the funds return to `available`. */
  async release(op_id: string): Promise<TransitionResult> {
    return this.finishReservation(op_id, "released");
  }

  private finishReservation(op_id: string, target: "settled" | "released"): TransitionResult {
    return this.ctx.storage.transactionSync((): TransitionResult => {
      const operation = this.operation(op_id);
      if (!operation || operation.kind !== "reserve") return { ok: false, reason: "unknown_operation" };
      const state = operation.state as ReservationState;
      const currency = operation.currency as string;
      if (state === target) return { ok: true, replayed: true, state, balance: this.readBalance(currency) };
      if (state !== "reserved") return { ok: false, reason: "invalid_state", state };
      const amount = operation.amount as number;
      const now = Date.now();
      this.sql.exec("UPDATE operations SET state = ?, updated_at = ? WHERE op_id = ?", target, now, op_id);
      if (target === "settled") this.move(`${op_id}:settle`, "settle", currency, 0, -amount, now);
      else this.move(`${op_id}:release`, "release", currency, amount, -amount, now);
      // A released payout needs no projection any more (D1 rejected it, or already recorded
      // the release itself): stop the alarm from replaying its creation.
      if (target === "released") this.sql.exec("DELETE FROM outbox WHERE op_id = ?", op_id);
      return { ok: true, replayed: false, state: target, balance: this.readBalance(currency) };
    });
  }

  // ── the outbox ───────────────────────────────────────────────────────────────────────

  /**
   * Replays projections that D1 has not confirmed. Runs a grace period after a write, so the
   * Worker that made the write has normally projected it already and this only reads.
   */
  override async alarm(): Promise<void> {
    this.alarmScheduled = false;
    await this.replayProjections(Date.now() - accountLimits.projection_grace_ms);
  }

  /** Replays every unconfirmed projection now, whatever its age (tests; an operator's nudge). */
  async flushProjections(): Promise<number> {
    return this.replayProjections(Number.MAX_SAFE_INTEGER);
  }

  /**
   * Replays, in order, the outbox rows written before `dueBefore` that D1 has not confirmed,
   * a bounded number of batches per call, then schedules the next alarm for what is left: at
   * once if some is already due (a busy customer's outbox drains at D1's pace, not one batch
   * per grace period), else when the oldest row comes due.
   */
  private async replayProjections(dueBefore: number): Promise<number> {
    faultPoint("alarm.before_replay");
    let replayed = 0;
    for (let batch = 0; batch < accountLimits.projection_replay_batches; batch++) {
      const rows = this.sql
        .exec("SELECT op_id, projection FROM outbox WHERE created_at <= ? ORDER BY seq LIMIT ?", dueBefore, accountLimits.d1_parameters_max)
        .toArray();
      if (rows.length === 0) break;
      const projections = rows.map((row) => JSON.parse(row.projection as string) as Projection);
      const confirmed = await this.confirmedInD1(projections.map(confirmationKey));
      for (const projection of projections) {
        if (confirmed.has(confirmationKey(projection))) continue;
        const outcome = await applyProjection(this.env.DB, projection);
        if (outcome === "rejected") await this.release(projection.op_id);
        if (outcome === "conflict") await this.revertCredit(projection.op_id);
        replayed++;
        log("warn", "projection replayed by alarm", { op_id: projection.op_id, kind: projection.kind, outcome });
      }
      const done = projections.map((projection) => projection.op_id);
      this.sql.exec(`DELETE FROM outbox WHERE op_id IN (${done.map(() => "?").join(", ")})`, ...done);
    }
    const oldest = this.sql.exec("SELECT MIN(created_at) AS oldest FROM outbox").one().oldest as number | null;
    if (oldest !== null) {
      this.alarmScheduled = true;
      await this.ctx.storage.setAlarm(Math.max(Date.now(), oldest + accountLimits.projection_grace_ms));
    }
    return replayed;
  }

  private async confirmedInD1(keys: string[]): Promise<Set<string>> {
    const confirmed = new Set<string>();
    for (let start = 0; start < keys.length; start += accountLimits.d1_parameters_max) {
      const chunk = keys.slice(start, start + accountLimits.d1_parameters_max);
      const { results } = await this.env.DB.prepare(
        `SELECT id FROM applied_projections WHERE id IN (${chunk.map(() => "?").join(", ")})`,
      )
        .bind(...chunk)
        .all<{ id: string }>();
      for (const row of results) confirmed.add(row.id);
    }
    return confirmed;
  }

  private async ensureAlarm(): Promise<void> {
    if (this.alarmScheduled) return;
    this.alarmScheduled = true;
    await this.ctx.storage.setAlarm(Date.now() + accountLimits.projection_grace_ms);
  }

  // ── helpers (synchronous: only ever called inside transactionSync) ──────────────────

  private operation(op_id: string): Row | undefined {
    return this.sql.exec("SELECT * FROM operations WHERE op_id = ?", op_id).toArray()[0];
  }

  private insertOperation(op_id: string, kind: "credit" | "debit" | "reserve", amount: number, currency: string, merchant_id: string | null, state: string, now: number): void {
    this.sql.exec(
      "INSERT INTO operations (op_id, kind, amount, currency, merchant_id, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      op_id,
      kind,
      amount,
      currency,
      merchant_id,
      state,
      now,
      now,
    );
  }

  private readBalance(currency: string): Balance {
    const row = this.sql.exec("SELECT * FROM balances WHERE currency = ?", currency).toArray()[0];
    return row ? (row as unknown as Balance) : { currency, available: 0, reserved: 0, updated_at: 0 };
  }

  /** The one place a balance changes: an entry and the cached balance, together. */
  private move(
    op_id: string,
    kind: AccountEntry["kind"],
    currency: string,
    available_delta: number,
    reserved_delta: number,
    now: number,
    options: { allowNegative?: boolean } = {},
  ): void {
    const before = this.readBalance(currency);
    const available = before.available + available_delta;
    const reserved = before.reserved + reserved_delta;
    assert(Number.isSafeInteger(available) && Number.isSafeInteger(reserved), "balance overflow");
    // Only a movement that takes money out of `available` may be refused for it: settling or
    // releasing a reservation must still work on a balance a reversal left below zero.
    assert(available >= 0 || available_delta >= 0 || options.allowNegative === true, `available would go negative (${available}) on ${kind} ${op_id}`);
    assert(reserved >= 0, `reserved would go negative (${reserved}) on ${kind} ${op_id}`);
    this.sql.exec(
      "INSERT INTO entries (op_id, kind, currency, available_delta, reserved_delta, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      op_id,
      kind,
      currency,
      available_delta,
      reserved_delta,
      now,
    );
    this.sql.exec(
      `INSERT INTO balances (currency, available, reserved, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (currency) DO UPDATE SET available = excluded.available, reserved = excluded.reserved, updated_at = excluded.updated_at`,
      currency,
      available,
      reserved,
      now,
    );
  }

  private enqueueProjection(projection: Projection, now: number): void {
    this.sql.exec("INSERT INTO outbox (op_id, projection, created_at) VALUES (?, ?, ?)", projection.op_id, JSON.stringify(projection), now);
  }
}

function assertAmount(amount: number): void {
  assert(Number.isSafeInteger(amount) && amount > 0, `amount must be a positive safe integer, got ${amount}`);
}

/** The stub of a customer's object. */
export function customerAccountStub(env: Env, customerId: string): DurableObjectStub<CustomerAccount> {
  return env.CUSTOMER_ACCOUNTS.get(env.CUSTOMER_ACCOUNTS.idFromName(customerId));
}

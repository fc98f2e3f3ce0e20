import { DurableObject } from "cloudflare:workers";
import { assert } from "../assert";
import type { Env } from "../env";
import { faultPoint } from "../faults";
import { accountLimits } from "../limits";
import { log } from "../log";
import { withInstrumentedD1 } from "../metrics";
import { customerAccountSchema } from "./customer-account-schema";
import { dispatchAfterWrite, eventMerchantOf } from "../webhooks/dispatch-after-write";
import { applyProjection, confirmationKey, customerOf, fingerprintOf, type Projection, type ProjectionOutcome } from "./projections";
import { recordRefusedDelivery } from "./refused-delivery";
import { recordUnprojectedCustomer } from "./unprojected-customers";

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

export type ReservationState = "reserved" | "settled" | "released" | "refused";

/**
 * A balance movement, keyed by the id of its cause. `projection` is what D1 must record; its
 * fingerprint (projections.ts) is the data a repeat is compared with.
 */
export interface MovementInput {
  op_id: string;
  amount: number;
  currency: string;
  merchant_id: string | null;
  projection: Projection;
}

export type CreditInput = MovementInput;
export type ReserveInput = MovementInput & { merchant_id: string };

/**
 * applied: this call moved the money. replayed: the same operation with the same data was
 * applied before; nothing moved. refused: the same operation with the same data was undone
 * for good before (D1 records its cause otherwise); nothing moved. conflict: the op id was
 * applied with other data; nothing moved. overflow: the balance would pass the largest safe
 * integer; nothing moved. `projection` is the one the operation stored (for a conflict, the
 * first version's): callers apply exactly it, never one they rebuilt.
 */
export type MovementOutcome = "applied" | "replayed" | "refused" | "conflict" | "overflow";

export interface MovementResult {
  outcome: MovementOutcome;
  projection: Projection;
  balance: Balance;
}

export type ReserveResult =
  | { ok: true; replayed: boolean; state: ReservationState; projection: Projection; balance: Balance }
  | { ok: false; reason: "insufficient_funds"; balance: Balance }
  | { ok: false; reason: "conflict"; projection: Projection; balance: Balance };

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
  /** Consecutive failed alarm runs: the next one waits longer (in memory: a restart retries at once). */
  private alarmFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, withInstrumentedD1(env)); // its alarms' D1 use counts in src/metrics.ts
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

  /** A cash-in or an assignment: `available` rises. Credits need no funds, so they never fail for money. */
  async credit(input: CreditInput): Promise<MovementResult> {
    return this.applyMovement("credit", input);
  }

  /**
   * A bank reversal (transfer.reversed): the bank clawed a credit back, so `available` falls
   * by the amount even below zero; what is below zero is owed. Reserved funds stay reserved:
   * a payout already on its way still settles.
   */
  async debit(input: CreditInput): Promise<MovementResult> {
    return this.applyMovement("debit", input);
  }

  /**
   * Undoes a credit that D1 would not record: another delivery of the same bank transfer won
   * (`refused`: a repeat of this same data replays the refusal and moves nothing), or an
   * assignment lost to a concurrent one or to a live return (`reverted`: the next legitimate
   * attempt applies again). May leave `available` negative if the credit was already
   * reserved in the moment between: that is owed, and reported.
   */
  async revertCredit(op_id: string, state: "refused" | "reverted" = "refused"): Promise<{ reverted: boolean }> {
    const reverted = this.ctx.storage.transactionSync(() => {
      const operation = this.operation(op_id);
      if (!operation || operation.kind !== "credit" || operation.state !== "applied") return false;
      const now = Date.now();
      this.sql.exec("UPDATE operations SET state = ?, updated_at = ? WHERE op_id = ?", state, now, op_id);
      this.move(`${op_id}:revert`, "revert", operation.currency as string, -(operation.amount as number), 0, now, { allowNegative: true });
      this.sql.exec("DELETE FROM outbox WHERE op_id = ?", op_id);
      return true;
    });
    if (reverted) log("error", "credit undone: D1 records its cause otherwise", { op_id, state });
    return { reverted };
  }

  /** A payout: `available` → `reserved`, only if `available` covers it. */
  async reserve(input: ReserveInput): Promise<ReserveResult> {
    assertAmount(input.amount);
    const result = this.ctx.storage.transactionSync((): ReserveResult => {
      const existing = this.operation(input.op_id);
      if (existing) {
        const stored = storedProjection(existing, input.projection);
        if (!sameOperation(existing, "reserve", input)) return { ok: false, reason: "conflict", projection: stored, balance: this.readBalance(input.currency) };
        return { ok: true, replayed: true, state: existing.state as ReservationState, projection: stored, balance: this.readBalance(input.currency) };
      }
      const balance = this.readBalance(input.currency);
      if (balance.available < input.amount) return { ok: false, reason: "insufficient_funds", balance };
      const now = Date.now();
      this.insertOperation("reserve", input, "reserved", now);
      this.move(input.op_id, "reserve", input.currency, -input.amount, input.amount, now);
      this.enqueueProjection(input.projection, now);
      return { ok: true, replayed: false, state: "reserved", projection: input.projection, balance: this.readBalance(input.currency) };
    });
    if (result.ok && !result.replayed) await this.ensureAlarm();
    return result;
  }

  /**
   * Credit or debit, once per op id: a repeat with the same data replays, with other data is
   * a conflict, and neither moves anything. An operation that was `reverted` applies again.
   */
  private async applyMovement(kind: "credit" | "debit", input: MovementInput): Promise<MovementResult> {
    assertAmount(input.amount);
    const result = this.ctx.storage.transactionSync((): MovementResult => {
      const existing = this.operation(input.op_id);
      const balance = this.readBalance(input.currency);
      if (existing && existing.state !== "reverted") {
        const projection = storedProjection(existing, input.projection);
        if (!sameOperation(existing, kind, input)) return { outcome: "conflict", projection, balance };
        return { outcome: existing.state === "refused" ? "refused" : "replayed", projection, balance };
      }
      // Refused cleanly rather than failing an assertion: the bank's event is then stored
      // as failed for the operator (422), never lost in a 500.
      if (kind === "credit" && balance.available > Number.MAX_SAFE_INTEGER - input.amount) {
        return { outcome: "overflow", projection: input.projection, balance };
      }
      const now = Date.now();
      if (existing) this.reapplyOperation(input, now);
      else this.insertOperation(kind, input, "applied", now);
      const delta = kind === "credit" ? input.amount : -input.amount;
      this.move(input.op_id, kind, input.currency, delta, 0, now, { allowNegative: kind === "debit" });
      this.enqueueProjection(input.projection, now);
      return { outcome: "applied", projection: input.projection, balance: this.readBalance(input.currency) };
    });
    if (result.outcome === "applied") await this.ensureAlarm();
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

  /**
   * D1 records this payout id with other data (conflict): the funds return to `available`,
   * and a repeat of this reservation replays the refusal.
   */
  async refuseReservation(op_id: string): Promise<TransitionResult> {
    return this.finishReservation(op_id, "refused");
  }

  private finishReservation(op_id: string, target: "settled" | "released" | "refused"): TransitionResult {
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
      if (target !== "settled") this.sql.exec("DELETE FROM outbox WHERE op_id = ?", op_id);
      return { ok: true, replayed: false, state: target, balance: this.readBalance(currency) };
    });
  }

  // ── the outbox ───────────────────────────────────────────────────────────────────────

  /**
   * Replays projections that D1 has not confirmed. Runs a grace period after a write, so the
   * Worker that made the write has normally projected it already and this only reads.
   *
   * Never throws: Cloudflare retries a throwing alarm only a few times (about two minutes),
   * and an outbox must outlive a longer D1 outage. A failed run re-arms itself with backoff
   * and records the customer in D1's unprojected_customers (when D1 answers), whose repair
   * cron wakes the object too.
   */
  override async alarm(): Promise<void> {
    this.alarmScheduled = false;
    try {
      await this.replayProjections(Date.now() - accountLimits.projection_grace_ms);
      this.alarmFailures = 0;
    } catch (error) {
      this.alarmFailures++;
      log("error", "projection replay failed; retrying", { customer_id: this.customerId(), failures: this.alarmFailures, error: String(error) });
      await this.recordUnprojected(String(error));
    } finally {
      await this.rearm();
    }
  }

  /**
   * Replays every unconfirmed projection now, whatever its age (tests; the repair cron; an
   * operator's nudge). Returns how many it replayed and how many remain in the outbox.
   */
  async flushProjections(): Promise<number> {
    try {
      return await this.replayProjections(Number.MAX_SAFE_INTEGER);
    } finally {
      await this.rearm();
    }
  }

  /** Outbox rows not yet confirmed by D1 (0 once everything is projected). */
  async unprojected(): Promise<number> {
    return this.sql.exec("SELECT COUNT(*) AS count FROM outbox").one().count as number;
  }

  /**
   * Replays, in order, the outbox rows written before `dueBefore` that D1 has not confirmed,
   * a bounded number of batches per call. Each projection replayed is the one stored with the
   * operation, and its outcome is compensated here: a payout D1 rejected is released, a
   * payout D1 holds with other data is refused, a credit D1 records otherwise is undone.
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
      // Merchants whose events these replays wrote: dispatched once per batch, not per replay.
      const eventMerchants: (string | null)[] = [];
      for (const projection of projections) {
        if (confirmed.has(confirmationKey(projection))) continue;
        const outcome = await applyProjection(this.env.DB, projection);
        await this.compensate(projection, outcome);
        eventMerchants.push(eventMerchantOf(projection, outcome));
        replayed++;
        log("warn", "projection replayed by alarm", { op_id: projection.op_id, kind: projection.kind, outcome });
      }
      await dispatchAfterWrite(this.env, eventMerchants);
      const done = projections.map((projection) => projection.op_id);
      this.sql.exec(`DELETE FROM outbox WHERE op_id IN (${done.map(() => "?").join(", ")})`, ...done);
    }
    return replayed;
  }

  /**
   * Undoes what D1 would not record (see ProjectionOutcome): the alarm calls it after a
   * replay, and the Worker after its own attempt (project.ts). Idempotent.
   */
  async compensate(projection: Projection, outcome: ProjectionOutcome): Promise<void> {
    if (outcome === "applied") return;
    if (projection.kind === "payout.created") {
      if (outcome === "rejected") await this.release(projection.op_id);
      else await this.refuseReservation(projection.op_id);
      return;
    }
    // An assignment that lost may win later (a live return that fails): reverted, not refused.
    await this.revertCredit(projection.op_id, projection.kind === "payment.assigned" ? "reverted" : "refused");
    // The delivery was answered before D1 decided (group commit) or its request died: its
    // event is recorded here, whoever compensates (the request, the group, this alarm).
    if (projection.kind === "payment.recorded" && projection.event) await recordRefusedDelivery(this.env.DB, projection, outcome);
  }

  /** Schedules the next alarm for what is left: at once if due, after a backoff if the last run failed. */
  private async rearm(): Promise<void> {
    const oldest = this.sql.exec("SELECT MIN(created_at) AS oldest FROM outbox").one().oldest as number | null;
    if (oldest === null) return;
    const backoff = this.alarmFailures === 0 ? 0 : Math.min(accountLimits.alarm_backoff_max_ms, accountLimits.projection_grace_ms * 2 ** Math.min(this.alarmFailures, 10));
    this.alarmScheduled = true;
    await this.ctx.storage.setAlarm(Math.max(Date.now() + backoff, oldest + accountLimits.projection_grace_ms));
  }

  /** Best effort: D1 may be what is failing. The object's own alarm retries regardless. */
  private async recordUnprojected(error: string): Promise<void> {
    const customerId = this.customerId();
    if (customerId === null) return;
    try {
      await recordUnprojectedCustomer(this.env.DB, customerId, error);
    } catch (failure) {
      log("warn", "could not record the unprojected customer in D1", { customer_id: customerId, error: String(failure) });
    }
  }

  /** The customer this object belongs to, from its projections (objects are named by customer id). */
  private customerId(): string | null {
    const row = this.sql.exec("SELECT projection FROM outbox ORDER BY seq LIMIT 1").toArray()[0];
    return row ? customerOf(JSON.parse(row.projection as string) as Projection) : null;
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

  private insertOperation(kind: "credit" | "debit" | "reserve", input: MovementInput, state: string, now: number): void {
    this.sql.exec(
      `INSERT INTO operations (op_id, kind, amount, currency, merchant_id, state, fingerprint, projection, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      input.op_id,
      kind,
      input.amount,
      input.currency,
      input.merchant_id,
      state,
      fingerprintOf(input.projection),
      JSON.stringify(input.projection),
      now,
      now,
    );
  }

  /** A reverted operation applied again, with the data of this attempt. */
  private reapplyOperation(input: MovementInput, now: number): void {
    this.sql.exec(
      `UPDATE operations SET amount = ?, currency = ?, merchant_id = ?, state = 'applied', fingerprint = ?, projection = ?, updated_at = ?
       WHERE op_id = ? AND state = 'reverted'`,
      input.amount,
      input.currency,
      input.merchant_id,
      fingerprintOf(input.projection),
      JSON.stringify(input.projection),
      now,
      input.op_id,
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

/**
 * Whether a repeat carries the data its operation was applied with. Rows from before
 * fingerprints were stored are compared by amount and currency.
 */
function sameOperation(existing: Row, kind: "credit" | "debit" | "reserve", input: MovementInput): boolean {
  if (existing.kind !== kind || existing.amount !== input.amount || existing.currency !== input.currency) return false;
  return existing.fingerprint === null || existing.fingerprint === fingerprintOf(input.projection);
}

function storedProjection(existing: Row, fallback: Projection): Projection {
  return existing.projection === null ? fallback : (JSON.parse(existing.projection as string) as Projection);
}

function assertAmount(amount: number): void {
  assert(Number.isSafeInteger(amount) && amount > 0, `amount must be a positive safe integer, got ${amount}`);
}

/** The stub of a customer's object. */
export function customerAccountStub(env: Env, customerId: string): DurableObjectStub<CustomerAccount> {
  return env.CUSTOMER_ACCOUNTS.get(env.CUSTOMER_ACCOUNTS.idFromName(customerId));
}

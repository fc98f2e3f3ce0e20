/**
 * The core of every internal transfer (API §12): POST /v1/transfers, top-ups, sweeps, reserve
 * releases. One D1 batch writes the transfer row and its balanced, posted ledger transaction
 * lt_<transfer id> (Dr from / Cr to), and the triggers of migrations/0016 write its events
 * (transfer.completed, balance_account.balance.updated) in that same batch.
 *
 * The balance check IS the write: the source's no_overdraft entry trigger (migrations/0015)
 * aborts the batch if the debit would take its available below zero, and the whole batch (row,
 * entries, events) rolls back. Nothing is read first to decide it, so concurrent transfers and
 * payouts on one account can never overdraw it.
 *
 * Same id, same data (every field of the order: its fingerprint) → "replayed", nothing moves.
 * Same id, other data → "conflict", nothing moves: the ledger transaction is written only while
 * the row carries this batch's fingerprint, i.e. only by the batch that created the row.
 *
 * What a caller must check itself (this function asserts them: they are programmer errors
 * here): the amount is a positive safe integer, the two accounts differ, and both are in the
 * order's currency (the route reads them first and answers 400 naming the field). Who may
 * move what (a merchant only from its own account, nobody but the release from a reserve) is
 * the caller's rule too.
 */
import { assert } from "../assert";
import { sha256Hex } from "../crypto";
import type { Env } from "../env";
import { faultPoint } from "../faults";
import { ledgerAccountIdOfBalanceAccount } from "../ledger/accounts";
import { postTransaction } from "../ledger/posting";
import { dispatchAfterWrite } from "../webhooks/dispatch-after-write";
import { findTransfer, type TransferRow } from "./transfer-row";

export type { TransferRow };

export interface TransferOrder {
  id: string;
  kind: "transfer" | "top_up" | "sweep" | "reserve_release" | string;
  from_balance_account: string;
  to_balance_account: string;
  amount: number;
  currency: string;
  description: string | null;
  initiated_by: string /* merchant id or "operator" or "cron" */;
  metadata?: Record<string, string>;
}

export type TransferOutcome =
  /** answered: the batch also wrote `answerWith`'s statement (the caller's stored answer). */
  | { result: "created"; transfer: TransferRow; answered: boolean }
  | { result: "replayed"; transfer: TransferRow }
  | { result: "conflict"; existing: TransferRow }
  | { result: "insufficient_funds" }
  /** The destination's balance would pass 2^53 − 1 (its entry trigger refused it): nothing moved. */
  | { result: "balance_overflow" }
  | { result: "not_found"; field: "from_balance_account" | "to_balance_account" }
  /** `onlyWhile` no longer held and no transfer has this id: nothing moved, nor ever will under it. */
  | { result: "superseded" };

/** A condition in SQL, with its parameters, evaluated inside the transfer's batch. */
export interface SqlCondition {
  sql: string;
  params: unknown[];
}

export interface TransferOptions {
  /**
   * Called with the row this batch would create; returns a statement run at the end of the same
   * batch (a route's stored Idempotency-Key answer: the key completes with the transfer or not at
   * all). Its guard must hold only if the row is this batch's own; the outcome's `answered` says
   * whether it wrote.
   */
  answerWith?: (row: TransferRow) => D1PreparedStatement;
  /**
   * The row (and so the movement) is written only while this holds, inside the batch: a route's
   * "the request's Idempotency-Key is still in flight", so that once the key has stored an
   * answer (a refusal of another attempt), no later batch under it can make a transfer that
   * answer denies. When it fails and no row has the id: "superseded".
   */
  onlyWhile?: SqlCondition;
}

/** A balance account as a transfer needs it: its ledger account, owner, kind and currency. */
export interface TransferAccount {
  ledger_account_id: string;
  owner_id: string;
  kind: "merchant" | "reserve" | "platform";
  currency: string;
}

/**
 * The balance accounts named `ids` that exist (a customer's ledger account is not one), keyed
 * by balance-account id. One query on ledger_accounts' primary key.
 */
export async function readTransferAccounts(d1: D1Database, ids: string[]): Promise<Map<string, TransferAccount>> {
  const ledgerIds = ids.map(ledgerAccountIdOfBalanceAccount).filter((id): id is string => id !== null);
  const found = new Map<string, TransferAccount>();
  if (ledgerIds.length === 0) return found;
  const { results } = await d1
    .prepare(
      `SELECT id AS ledger_account_id, owner_id, kind, currency FROM ledger_accounts
       WHERE id IN (${ledgerIds.map(() => "?").join(", ")}) AND kind IN ('merchant', 'reserve', 'platform')`,
    )
    .bind(...ledgerIds)
    .all<TransferAccount>();
  for (const row of results) found.set(`ba_${row.ledger_account_id.slice(3)}`, row);
  return found;
}

/** Every field of the order but its id, in a fixed order: what "the same data" means. */
export function transferFingerprint(order: TransferOrder): Promise<string> {
  const metadata = Object.entries(order.metadata ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sha256Hex(
    JSON.stringify([order.kind, order.from_balance_account, order.to_balance_account, order.amount, order.currency, order.description, order.initiated_by, metadata]),
  );
}

/** The ledger transaction that accounts for a transfer. */
export function transferTransactionId(transferId: string): string {
  return `lt_${transferId}`;
}

function isInsufficientFunds(error: unknown): boolean {
  return String(error instanceof Error ? error.message : error).includes("insufficient_funds");
}

/** migrations/0015's entry trigger: a credit taking a balance past 2^53 − 1 aborts the batch. */
function isBalanceOverflow(error: unknown): boolean {
  return String(error instanceof Error ? error.message : error).includes("balance_overflow");
}

/** Runs `order` (see the file's comment and TransferOptions). */
export async function executeTransfer(env: Env, order: TransferOrder, now: number, options: TransferOptions = {}): Promise<TransferOutcome> {
  const { answerWith, onlyWhile } = options;
  assert(/^tr_[A-Za-z0-9_]{1,100}$/.test(order.id), `transfer id ${order.id} is not a tr_ id`);
  assert(Number.isSafeInteger(order.amount) && order.amount > 0, `transfer ${order.id}: amount ${order.amount} is not a positive safe integer`);
  assert(order.from_balance_account !== order.to_balance_account, `transfer ${order.id}: from and to are the same account`);

  const accounts = await readTransferAccounts(env.DB, [order.from_balance_account, order.to_balance_account]);
  const from = accounts.get(order.from_balance_account);
  const to = accounts.get(order.to_balance_account);
  if (!from) return { result: "not_found", field: "from_balance_account" };
  if (!to) return { result: "not_found", field: "to_balance_account" };
  assert(from.currency === order.currency && to.currency === order.currency, `transfer ${order.id}: ${order.currency} between ${from.currency} and ${to.currency} accounts`);

  const fingerprint = await transferFingerprint(order);
  const metadata = JSON.stringify(order.metadata ?? {});
  const d1 = env.DB;
  const insertRow = d1
    .prepare(
      `INSERT INTO transfers (id, kind, status, from_balance_account, to_balance_account, from_owner_id, to_owner_id, amount, currency, description, initiated_by, metadata, fingerprint, created_at)
       SELECT ?, ?, 'completed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE ${onlyWhile?.sql ?? "1"}
       ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      order.id,
      order.kind,
      order.from_balance_account,
      order.to_balance_account,
      from.owner_id,
      to.owner_id,
      order.amount,
      order.currency,
      order.description,
      order.initiated_by,
      metadata,
      fingerprint,
      now,
      ...(onlyWhile?.params ?? []),
    );
  const ledger = postTransaction(
    d1,
    {
      id: transferTransactionId(order.id),
      status: "posted",
      description: order.description ?? `Transfer (${order.kind})`,
      ledgerable_type: "transfer",
      ledgerable_id: order.id,
      effective_at: now,
      entries: [
        { account_id: from.ledger_account_id, direction: "debit", amount: order.amount },
        { account_id: to.ledger_account_id, direction: "credit", amount: order.amount },
      ],
    },
    now,
    // Only the batch whose row this is posts: a repeat with other data moves nothing.
    { sql: "EXISTS (SELECT 1 FROM transfers WHERE id = ? AND fingerprint = ?)", params: [order.id, fingerprint] },
  );

  const row: TransferRow = {
    id: order.id,
    kind: order.kind,
    status: "completed",
    from_balance_account: order.from_balance_account,
    to_balance_account: order.to_balance_account,
    from_owner_id: from.owner_id,
    to_owner_id: to.owner_id,
    amount: order.amount,
    currency: order.currency,
    description: order.description,
    initiated_by: order.initiated_by,
    metadata,
    fingerprint,
    created_at: now,
  };
  const rider = answerWith?.(row);

  let created: boolean;
  let answered = false;
  try {
    const results = await d1.batch(rider ? [insertRow, ...ledger, rider] : [insertRow, ...ledger]);
    // changes counts the rows its triggers wrote (events) too: 0 only when the id existed (or
    // onlyWhile failed).
    created = (results[0]?.meta.changes ?? 0) > 0;
    answered = rider !== undefined && (results[results.length - 1]?.meta.changes ?? 0) > 0;
  } catch (error) {
    if (isInsufficientFunds(error)) return { result: "insufficient_funds" };
    if (isBalanceOverflow(error)) return { result: "balance_overflow" };
    throw error;
  }

  faultPoint("transfer.after_batch");
  if (created) {
    // Its events' webhooks leave now rather than at the cron's backstop.
    await dispatchAfterWrite(env, [from.owner_id, to.owner_id].filter((owner) => owner !== "platform"));
    return { result: "created", transfer: row, answered };
  }
  const existing = await findTransfer(d1, order.id);
  if (existing === null) {
    assert(onlyWhile !== undefined, `transfer ${order.id}: not inserted, yet absent`);
    return { result: "superseded" };
  }
  return existing.fingerprint === fingerprint ? { result: "replayed", transfer: existing } : { result: "conflict", existing };
}

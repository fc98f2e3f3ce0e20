/**
 * INTERIM STAND-IN (branch fm-sweeps): the interface the transfers helper is building on branch
 * fm-transfers, with a minimal body so that sweeps can be tested before it lands. Replaced
 * whole by fm-transfers' file at the merge.
 */
import type { Env } from "../env";
import { postTransaction } from "../ledger/posting";
import { ledgerAccountIdOfBalanceAccount } from "../ledger/accounts";

export interface TransferOrder {
  id: string;
  kind: "transfer" | "top_up" | "sweep" | "reserve_release" | string;
  from_balance_account: string;
  to_balance_account: string;
  amount: number;
  currency: string;
  description: string | null;
  initiated_by: string;
  metadata?: Record<string, string>;
}

export interface TransferRow {
  id: string;
  kind: string;
  from_balance_account: string;
  to_balance_account: string;
  amount: number;
  currency: string;
  description: string | null;
  initiated_by: string;
  status: string;
  created_at: number;
}

export type TransferOutcome =
  | { result: "created" | "replayed"; transfer: TransferRow }
  | { result: "conflict"; existing: TransferRow }
  | { result: "insufficient_funds" }
  | { result: "not_found"; field: "from_balance_account" | "to_balance_account" };

export async function executeTransfer(env: Env, order: TransferOrder, now: number): Promise<TransferOutcome> {
  const from = ledgerAccountIdOfBalanceAccount(order.from_balance_account);
  const to = ledgerAccountIdOfBalanceAccount(order.to_balance_account);
  if (!from) return { result: "not_found", field: "from_balance_account" };
  if (!to) return { result: "not_found", field: "to_balance_account" };
  const row: TransferRow = { ...order, status: "completed", created_at: now };
  const existing = await env.DB.prepare("SELECT id FROM ledger_transactions WHERE id = ?").bind(order.id).first();
  if (existing) return { result: "replayed", transfer: row };
  try {
    await env.DB.batch(
      postTransaction(env.DB, {
        id: order.id,
        status: "posted",
        description: order.description ?? order.kind,
        ledgerable_type: "transfer",
        ledgerable_id: order.id,
        effective_at: now,
        entries: [
          { account_id: from, direction: "debit", amount: order.amount },
          { account_id: to, direction: "credit", amount: order.amount },
        ],
      }, now),
    );
  } catch (error) {
    if (String(error).includes("insufficient_funds")) return { result: "insufficient_funds" };
    throw error;
  }
  return { result: "created", transfer: row };
}

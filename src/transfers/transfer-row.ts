/** Reading transfers from D1, as rows and as the API shows them (API §12). */
import { eq } from "drizzle-orm";
import { database } from "../db/client";
import { transfers, type TransferRow } from "../db/schema";
import { rfc3339 } from "../schemas/common";

export type { TransferRow };

export async function findTransfer(d1: D1Database, transferId: string): Promise<TransferRow | null> {
  return (await database(d1).query.transfers.findFirst({ where: eq(transfers.id, transferId) })) ?? null;
}

/** Who may see a transfer: the operator, and each merchant that owns one of its two accounts. */
export function transferVisibleTo(row: TransferRow, caller: { kind: "operator" } | { kind: "merchant"; merchantId: string }): boolean {
  return caller.kind === "operator" || row.from_owner_id === caller.merchantId || row.to_owner_id === caller.merchantId;
}

/**
 * The transfer as GET shows it. migrations/0016's transfer_objects view writes the same JSON
 * for transfer.completed events (test/transfers/events.test.ts compares them).
 */
export function transferView(row: TransferRow) {
  return {
    id: row.id,
    object: "transfer" as const,
    status: row.status,
    kind: row.kind,
    from_balance_account: row.from_balance_account,
    to_balance_account: row.to_balance_account,
    amount: row.amount,
    currency: row.currency,
    description: row.description,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    created_at: rfc3339(row.created_at),
  };
}

export type TransferView = ReturnType<typeof transferView>;

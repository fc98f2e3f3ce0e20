/**
 * One page of transfers, newest first (GET /v1/transfers), as index walks that stop after
 * limit + 1 rows whatever the caller has seen or sent.
 *
 * "From or to X" is an OR over two columns; as one query SQLite reads every matching row of both
 * sides (a multi-index OR) and sorts them all for each page. Instead each side is its own query
 * on its own index — (from_owner_id | to_owner_id | from_balance_account | to_balance_account,
 * created_at, id), migrations/0016 — walked backwards from the cursor and stopped after limit + 1
 * rows; the two (one read batch, so one snapshot) are merged here. A transfer on both sides (a
 * merchant's transfer between two of its own accounts) comes back from both and is kept once.
 * The newest limit + 1 of the union are among the newest limit + 1 of each side, so the page is
 * exact. Order (created_at DESC, id DESC) and the cursor are pagination.ts's.
 */
import { and, desc, eq, or, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { database } from "../db/client";
import { transfers, type TransferRow } from "../db/schema";
import type { Cursor } from "../pagination";

export interface TransferFilter {
  /** A merchant sees the transfers from or to its accounts. */
  merchantId?: string | undefined;
  /** Only transfers from or to this balance account. */
  balanceAccount?: string | undefined;
  kind?: string | undefined;
}

/** "Strictly after the cursor" in newest-first order, as a row value: an index range, not a filter. */
function beforeCursor(cursor: Cursor | null): SQL | undefined {
  if (cursor === null) return undefined;
  return sql`(${transfers.created_at}, ${transfers.id}) < (${cursor.created_at}, ${cursor.id})`;
}

/** The equality each side's index starts with: the most selective "from or to" the filter has. */
function sidesOf(filter: TransferFilter): [SQLiteColumn, string][] {
  if (filter.balanceAccount !== undefined) {
    return [
      [transfers.from_balance_account, filter.balanceAccount],
      [transfers.to_balance_account, filter.balanceAccount],
    ];
  }
  if (filter.merchantId !== undefined) {
    return [
      [transfers.from_owner_id, filter.merchantId],
      [transfers.to_owner_id, filter.merchantId],
    ];
  }
  return [];
}

/**
 * The queries of one page: one per side (none driven by a side: one on transfers_by_time), each
 * ordered by its index and limited to limit + 1. Exported for the query-plan test.
 */
export function transferPageQueries(d1: D1Database, filter: TransferFilter, cursor: Cursor | null, limit: number) {
  const db = database(d1);
  const residual: (SQL | undefined)[] = [
    // With a balance account driving, a merchant's own visibility is still a filter.
    filter.balanceAccount !== undefined && filter.merchantId !== undefined
      ? or(eq(transfers.from_owner_id, filter.merchantId), eq(transfers.to_owner_id, filter.merchantId))
      : undefined,
    filter.kind !== undefined ? eq(transfers.kind, filter.kind) : undefined,
    beforeCursor(cursor),
  ];
  const page = (side?: [SQLiteColumn, string]) =>
    db
      .select()
      .from(transfers)
      .where(and(side ? eq(side[0], side[1]) : undefined, ...residual))
      .orderBy(desc(transfers.created_at), desc(transfers.id))
      .limit(limit + 1);
  const sides = sidesOf(filter);
  return sides.length === 0 ? [page()] : sides.map(page);
}

/** limit + 1 rows at most, newest first, each transfer once (toPage makes the page of them). */
export async function listTransfers(d1: D1Database, filter: TransferFilter, cursor: Cursor | null, limit: number): Promise<TransferRow[]> {
  const [first, ...rest] = transferPageQueries(d1, filter, cursor, limit);
  const results: TransferRow[][] = rest.length === 0 ? [await first!] : await database(d1).batch([first!, ...rest]);
  const byId = new Map<string, TransferRow>();
  for (const rows of results) for (const row of rows) byId.set(row.id, row);
  return [...byId.values()]
    .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .slice(0, limit + 1);
}

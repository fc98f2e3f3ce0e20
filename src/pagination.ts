import { and, desc, eq, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./db/client";
import { ApiError } from "./errors";

/** A page position: the sort key of the last row seen. Lists are newest first. */
export interface Cursor {
  created_at: number;
  id: string;
}

export function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify([cursor.created_at, cursor.id])).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

export function decodeCursor(text: string | undefined): Cursor | null {
  if (text === undefined) return null;
  try {
    const json = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    const [created_at, id] = JSON.parse(json) as unknown[];
    if (typeof created_at === "number" && Number.isSafeInteger(created_at) && typeof id === "string" && id.length <= 100) {
      return { created_at, id };
    }
  } catch {
    // fall through to the error below
  }
  throw new ApiError("invalid_request", "cursor is not one this API issued.", [{ path: "query.cursor", message: "invalid cursor" }]);
}

export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

/**
 * Builds a page from rows fetched with `limit + 1` (the extra row only tells whether there is
 * more), ordered by (created_at DESC, id DESC).
 */
export function toPage<Row extends Cursor, T>(rows: Row[], limit: number, render: (row: Row) => T): Page<T> {
  const has_more = rows.length > limit;
  const kept = has_more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return {
    data: kept.map(render),
    has_more,
    next_cursor: has_more && last ? encodeCursor({ created_at: last.created_at, id: last.id }) : null,
  };
}

/** The WHERE clause for "rows after this cursor" in newest-first order. */
export function afterCursor(createdAt: SQLiteColumn, id: SQLiteColumn, cursor: Cursor | null): SQL | undefined {
  if (cursor === null) return undefined;
  return or(lt(createdAt, cursor.created_at), and(eq(createdAt, cursor.created_at), lt(id, cursor.id)));
}

/** The columns a list pages by: newest first by `createdAt`, ties broken by `id`. */
export interface PageKey {
  createdAt: SQLiteColumn;
  id: SQLiteColumn;
}

/** A table paged by its own `created_at` and `id` columns (most lists). */
type PagedTable = SQLiteTable & { created_at: SQLiteColumn; id: SQLiteColumn };

/**
 * One page of a table's rows newest first: `filter` (undefined: every row), then the rows after
 * `cursor`, ordered by (key.createdAt DESC, key.id DESC), `limit + 1` rows so toPage can tell
 * whether there is more. The key defaults to the table's `created_at` and `id`; the lists' indexes
 * end in those columns, so the filter's equalities plus the order are one index search.
 */
export function pageQuery<T extends PagedTable>(db: Db, table: T, filter: SQL | undefined, cursor: Cursor | null, limit: number): Promise<T["$inferSelect"][]>;
export function pageQuery<T extends SQLiteTable>(
  db: Db,
  table: T,
  filter: SQL | undefined,
  cursor: Cursor | null,
  limit: number,
  key: PageKey,
): Promise<T["$inferSelect"][]>;
export function pageQuery(db: Db, table: SQLiteTable, filter: SQL | undefined, cursor: Cursor | null, limit: number, key?: PageKey): Promise<unknown[]> {
  const { createdAt, id } = key ?? { createdAt: (table as PagedTable).created_at, id: (table as PagedTable).id };
  return db
    .select()
    .from(table)
    .where(and(filter, afterCursor(createdAt, id, cursor)))
    .orderBy(desc(createdAt), desc(id))
    .limit(limit + 1);
}

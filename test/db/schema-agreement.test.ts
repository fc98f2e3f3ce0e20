/**
 * The drizzle schema (src/db/schema.ts) and the migrated database (migrations/, applied as in
 * production) describe the same tables: same names, same columns, same declared types, the
 * same NOT NULL, defaults and primary keys. A migration that adds a column, or a schema edit
 * that invents one, fails here.
 */
import { env } from "cloudflare:workers";
import { getTableConfig, SQLiteTable } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import * as schema from "../../src/db/schema";

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: string | null;
  pk: number;
}

/** A drizzle default as SQLite reports it (pragma table_info's dflt_value: the SQL literal). */
function sqlLiteral(value: unknown): string | null {
  if (value === undefined) return null;
  return typeof value === "string" ? `'${value.replace(/'/g, "''")}'` : String(value);
}

const drizzleTables = Object.values(schema as Record<string, unknown>)
  .filter((value): value is SQLiteTable => value instanceof SQLiteTable)
  .map((table) => getTableConfig(table));

async function migratedTables(): Promise<string[]> {
  const { results } = await env.DB.prepare(
    // Internal tables: SQLite's, D1's and the migrations log.
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name <> 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  return results.map((row) => row.name);
}

/** What each side says of a column, in one comparable shape. */
function describeColumn(name: string, type: string, notNull: boolean, primaryKeyPosition: number, defaultValue: string | null) {
  // SQLite reports a single-column TEXT PRIMARY KEY as nullable (a historical quirk); drizzle
  // makes every primary key NOT NULL. Compare NOT NULL only outside the primary key.
  return { name, type: type.toLowerCase(), notNull: primaryKeyPosition > 0 ? "pk" : notNull, primaryKeyPosition, defaultValue };
}

describe("drizzle schema ↔ migrations", () => {
  it("has every migrated table, and no other", async () => {
    expect(drizzleTables.map((table) => table.name).sort()).toEqual(await migratedTables());
  });

  it.each(drizzleTables.map((table) => [table.name, table] as const))("%s: same columns, types, NOT NULL, defaults and primary key", async (name, table) => {
    const { results } = await env.DB.prepare('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)').bind(name).all<ColumnInfo>();
    const migrated = results.map((column) => describeColumn(column.name, column.type, column.notnull === 1, column.pk, column.dflt_value)).sort((a, b) => a.name.localeCompare(b.name));

    const compositeKey = table.primaryKeys[0]?.columns.map((column) => column.name) ?? [];
    const declared = table.columns
      .map((column) => {
        const position = column.primary ? 1 : compositeKey.indexOf(column.name) + 1;
        return describeColumn(column.name, column.getSQLType(), column.notNull, position, sqlLiteral(column.default));
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(declared).toEqual(migrated);
  });
});

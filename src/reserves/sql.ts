/** SQL spellings shared by the reserve statements (SQLite has no user functions). */

/** RFC 3339 UTC with milliseconds of an epoch-ms column, exactly as rfc3339() (src/schemas/common.ts). */
export function rfc3339Sql(column: string): string {
  return `strftime('%Y-%m-%dT%H:%M:%S', ${column} / 1000, 'unixepoch') || printf('.%03dZ', ${column} % 1000)`;
}

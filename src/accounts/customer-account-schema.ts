/**
 * The customer Durable Object's SQLite schema, one entry per version, applied in order by the
 * object's constructor and recorded in its schema_version table. Never edit an entry once it
 * has shipped: add the next one.
 *
 *   balances    the cached balance per currency (equal to the sum of entries: verify())
 *   operations  every operation applied, by the id of its cause, with the data it was applied
 *               with (fingerprint) and the projection it stored: what makes each method
 *               idempotent, and a repeat with other data a conflict
 *   entries     every balance movement, append-only
 *   outbox      projections D1 has not confirmed yet (replayed by the alarm)
 */
export const customerAccountSchema: readonly string[] = [
  // v1
  `CREATE TABLE balances (
     currency TEXT PRIMARY KEY,
     available INTEGER NOT NULL,
     reserved INTEGER NOT NULL CHECK (reserved >= 0),
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE operations (
     op_id TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('credit', 'reserve')),
     amount INTEGER NOT NULL CHECK (amount > 0),
     currency TEXT NOT NULL,
     merchant_id TEXT,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE entries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     op_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     currency TEXT NOT NULL,
     available_delta INTEGER NOT NULL,
     reserved_delta INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     op_id TEXT NOT NULL UNIQUE,
     projection TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  // v2: bank reversals add 'debit' operations (SQLite cannot alter a CHECK: rebuild the table).
  `CREATE TABLE operations_v2 (
     op_id TEXT PRIMARY KEY,
     kind TEXT NOT NULL CHECK (kind IN ('credit', 'debit', 'reserve')),
     amount INTEGER NOT NULL CHECK (amount > 0),
     currency TEXT NOT NULL,
     merchant_id TEXT,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   INSERT INTO operations_v2 SELECT * FROM operations;
   DROP TABLE operations;
   ALTER TABLE operations_v2 RENAME TO operations;`,
  // v3: same cause, same data (issue 8). `fingerprint` is the operation's data as canonical
  // JSON (projections.ts fingerprintOf): a repeat replays only if it is equal. `projection`
  // is the D1 projection the operation stored, kept after the outbox row is gone: a repeat
  // applies exactly it, never one it rebuilt. Rows of v2 keep NULL (compared by amount and
  // currency). States: credit/debit 'applied' | 'reverted' (undone, may apply again) |
  // 'refused' (D1 records the cause otherwise: a repeat replays the refusal);
  // reserve 'reserved' | 'settled' | 'released'.
  `ALTER TABLE operations ADD COLUMN fingerprint TEXT;
   ALTER TABLE operations ADD COLUMN projection TEXT;`,
];

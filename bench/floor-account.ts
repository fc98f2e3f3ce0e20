/**
 * Bench only: the floor's Durable Object. One call = one RPC and one durable SQLite write
 * (a single INSERT keyed by the operation id), the least a customer's object can do for a
 * credit. Exported only by bench/floor-worker.ts and bound only by bench/floor-bindings.toml.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

export class FloorAccount extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(
      "CREATE TABLE IF NOT EXISTS operations (op_id TEXT PRIMARY KEY, amount INTEGER NOT NULL, created_at INTEGER NOT NULL)",
    );
  }

  /** One insert; a repeat of the same op_id changes nothing (like a credit's replay). */
  async record(op_id: string, amount: number): Promise<{ recorded: boolean }> {
    const cursor = this.sql.exec(
      "INSERT INTO operations (op_id, amount, created_at) VALUES (?, ?, ?) ON CONFLICT (op_id) DO NOTHING",
      op_id,
      amount,
      Date.now(),
    );
    return { recorded: cursor.rowsWritten > 0 };
  }
}

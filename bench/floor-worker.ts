/**
 * Bench only: the production Worker (everything src/index.ts exports, unchanged) plus the
 * floor route, `POST /bench/floor`, which does the least the design can do per cash-in:
 * one Durable Object RPC that writes once, then one D1 batch. `npm run bench` runs this
 * entry (wrangler.toml + bench/floor-bindings.toml), so the floor is measured in the same
 * workerd, against the same D1, in the same run as the real routes. Production never builds
 * this file, and the route answers only when the BENCH variable is "true".
 *
 * Body: `{ "op_id": string, "customer_id": string, "amount": integer }` → `200 { "ok": true }`.
 */
import worker from "../src/index";
import type { Env } from "../src/env";
import type { FloorAccount } from "./floor-account";

export * from "../src/index";
export { FloorAccount } from "./floor-account";

interface BenchEnv extends Env {
  FLOOR_ACCOUNTS: DurableObjectNamespace<FloorAccount>;
  BENCH?: string;
}

interface FloorRequest {
  op_id: string;
  customer_id: string;
  amount: number;
}

/** The floor's D1 table, created once per isolate (outside the measured batch). */
let floorTable: Promise<unknown> | null = null;

function ensureFloorTable(d1: D1Database): Promise<unknown> {
  floorTable ??= d1
    .prepare(
      "CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, amount INTEGER NOT NULL, created_at INTEGER NOT NULL)",
    )
    .run()
    .catch((error: unknown) => {
      floorTable = null;
      throw error;
    });
  return floorTable;
}

function isFloorRequest(value: unknown): value is FloorRequest {
  const body = value as Partial<FloorRequest> | null;
  return (
    typeof body?.op_id === "string" &&
    typeof body.customer_id === "string" &&
    typeof body.amount === "number" &&
    Number.isSafeInteger(body.amount) &&
    body.amount > 0
  );
}

async function floor(request: Request, env: BenchEnv): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return Response.json({ error: "body is not JSON" }, { status: 400 });
  }
  if (!isFloorRequest(body)) return Response.json({ error: "expected { op_id, customer_id, amount }" }, { status: 400 });
  await ensureFloorTable(env.DB);
  const account = env.FLOOR_ACCOUNTS.get(env.FLOOR_ACCOUNTS.idFromName(body.customer_id));
  await account.record(body.op_id, body.amount);
  await env.DB.batch([
    env.DB.prepare("INSERT INTO bench_floor (id, customer_id, amount, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING").bind(
      body.op_id,
      body.customer_id,
      body.amount,
      Date.now(),
    ),
  ]);
  return Response.json({ ok: true });
}

export default {
  ...worker,
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/bench/floor" && request.method === "POST" && env.BENCH === "true") return floor(request, env);
    return worker.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<BenchEnv>;

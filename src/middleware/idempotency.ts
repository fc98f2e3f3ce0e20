import { and, eq, lt } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import type { AppEnv, Caller } from "../context";
import { sha256Hex } from "../crypto";
import { database, type Db } from "../db/client";
import { idempotencyKeys } from "../db/schema";
import { problem } from "../errors";
import { limits } from "../limits";
import { log } from "../log";

/** POST routes on which a key is mandatory because they move money (API §1). */
const keyRequired: RegExp[] = [
  /^\/v1\/payouts$/,
  /^\/v1\/transfers$/,
  /^\/v1\/merchant\/payouts$/,
  /^\/v1\/merchants\/[^/]+\/top-ups$/,
];

/** Routes whose callers are not bearer-authenticated keep their own dedupe (bank event ids). */
const exempt: RegExp[] = [/^\/v1\/bank\/events$/];

const printableAscii = /^[\x20-\x7e]+$/;

function callerScope(caller: Caller): string {
  return caller.kind === "operator" ? "operator" : caller.merchantId;
}

type Claim =
  | { kind: "proceed" }
  | { kind: "replay"; status: number; body: string }
  | { kind: "reused" }
  | { kind: "in_flight" };

/**
 * Takes the key for this request, atomically: the INSERT … ON CONFLICT DO NOTHING is the lock,
 * so two concurrent first requests cannot both proceed. An expired lock (its request died) is
 * taken over by compare-and-set on `locked_until`.
 */
async function claim(db: Db, scope: string, key: string, fingerprint: string, now: number): Promise<Claim> {
  const inserted = await db
    .insert(idempotencyKeys)
    .values({ caller: scope, key, fingerprint, state: "in_flight", locked_until: now + limits.idempotency_lock_ms, created_at: now })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (inserted.length === 1) return { kind: "proceed" };

  const row = await db.query.idempotencyKeys.findFirst({
    where: and(eq(idempotencyKeys.caller, scope), eq(idempotencyKeys.key, key)),
  });
  if (!row) return claim(db, scope, key, fingerprint, now); // removed between our two statements
  if (row.created_at < now - limits.idempotency_retention_ms) {
    // Past retention the key is free again: remove the stale record and start over.
    await db
      .delete(idempotencyKeys)
      .where(and(eq(idempotencyKeys.caller, scope), eq(idempotencyKeys.key, key), eq(idempotencyKeys.created_at, row.created_at)));
    return claim(db, scope, key, fingerprint, now);
  }
  if (row.fingerprint !== fingerprint) return { kind: "reused" };
  if (row.state === "completed") return { kind: "replay", status: row.response_status ?? 200, body: row.response_body ?? "" };
  if (row.locked_until > now) return { kind: "in_flight" };
  const taken = await db
    .update(idempotencyKeys)
    .set({ locked_until: now + limits.idempotency_lock_ms })
    .where(
      and(
        eq(idempotencyKeys.caller, scope),
        eq(idempotencyKeys.key, key),
        eq(idempotencyKeys.state, "in_flight"),
        eq(idempotencyKeys.locked_until, row.locked_until),
      ),
    )
    .returning({ key: idempotencyKeys.key });
  return taken.length === 1 ? { kind: "proceed" } : { kind: "in_flight" };
}

/**
 * Idempotency for every POST (API §1). The request's fingerprint is its method, path and raw
 * body. A completed response below 500 is stored and replayed with `Idempotent-Replayed: true`;
 * a 5xx releases the key so that a retry runs again (every handler is idempotent by its own
 * ids, so running again never moves money twice).
 */
export const idempotency: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method !== "POST" || exempt.some((pattern) => pattern.test(c.req.path))) return next();
  const key = c.req.header("idempotency-key");
  if (key === undefined) {
    if (keyRequired.some((pattern) => pattern.test(c.req.path))) {
      return problem(c, "invalid_request", "This route requires an Idempotency-Key header.", [
        { path: "header.Idempotency-Key", message: "required" },
      ]);
    }
    return next();
  }
  if (key.length < 1 || key.length > limits.idempotency_key_length_max || !printableAscii.test(key)) {
    return problem(c, "invalid_request", "Idempotency-Key must be 1-255 printable ASCII characters.", [
      { path: "header.Idempotency-Key", message: "must be 1-255 printable ASCII characters" },
    ]);
  }

  const db = database(c.env.DB);
  const scope = callerScope(c.get("caller"));
  const fingerprint = await sha256Hex(`${c.req.method} ${c.req.path}\n${await c.req.text()}`);
  const outcome = await claim(db, scope, key, fingerprint, Date.now());
  switch (outcome.kind) {
    case "reused":
      return problem(c, "idempotency_key_reused", "This Idempotency-Key was used with a different request.");
    case "in_flight":
      return problem(c, "idempotency_key_in_flight", "A request with this Idempotency-Key is still in progress.");
    case "replay": {
      const contentType = outcome.status >= 400 ? "application/problem+json" : "application/json";
      return new Response(outcome.body, {
        status: outcome.status,
        headers: { "content-type": contentType, "Idempotent-Replayed": "true" },
      });
    }
    case "proceed":
      break;
  }

  await next();

  const where = and(eq(idempotencyKeys.caller, scope), eq(idempotencyKeys.key, key), eq(idempotencyKeys.state, "in_flight"));
  try {
    const body = redact(await c.res.clone().text(), c.get("secretFields"));
    if (c.res.status >= 500 || body.length > limits.idempotency_response_bytes) {
      await db.delete(idempotencyKeys).where(where);
    } else {
      await db
        .update(idempotencyKeys)
        .set({ state: "completed", response_status: c.res.status, response_body: body })
        .where(where);
    }
  } catch (error) {
    // The response stands; the lock expires and a retry re-runs an idempotent handler.
    log("error", "idempotency record not saved", { request_id: c.get("requestId"), error: String(error) });
  }
};

/**
 * Secrets are shown once (an API key, a webhook secret): the stored response keeps every
 * other field and nulls those, so a replay says what was created without revealing them.
 */
function redact(body: string, fields: string[] | undefined): string {
  if (!fields || fields.length === 0) return body;
  const parsed = JSON.parse(body) as Record<string, unknown>;
  for (const field of fields) if (field in parsed) parsed[field] = null;
  return JSON.stringify(parsed);
}

/** Forgets keys past retention; run by the cron. */
export async function pruneIdempotencyKeys(db: Db, now: number): Promise<void> {
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.created_at, now - limits.idempotency_retention_ms));
}

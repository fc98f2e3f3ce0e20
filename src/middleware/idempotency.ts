import { and, eq, lt } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import { assert } from "../assert";
import type { AppEnv, Caller, IdempotencyClaim } from "../context";
import { randomToken, sha256Hex } from "../crypto";
import { database, type Db } from "../db/client";
import { idempotencyKeys } from "../db/schema";
import { ApiError, problem } from "../errors";
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
  | { kind: "proceed"; claim_id: string; locked_until: number; fresh: boolean }
  | { kind: "replay"; status: number; body: string }
  | { kind: "reused" }
  | { kind: "in_flight" };

/**
 * Takes the key for this request, atomically: the INSERT … ON CONFLICT DO NOTHING is the lock,
 * so two concurrent first requests cannot both proceed, and it mints the claim's id. A started
 * claim whose lock is free (its request died, or answered 5xx) is taken over by compare-and-set
 * on `locked_until`, keeping its claim id. A row past retention is deleted and the key claimed
 * afresh, with a new claim id (as when the cron has already pruned it).
 */
async function claim(db: Db, scope: string, key: string, fingerprint: string, now: number): Promise<Claim> {
  const lockedUntil = now + limits.idempotency_lock_ms;
  const claimId = randomToken(32);
  const inserted = await db
    .insert(idempotencyKeys)
    .values({ caller: scope, key, claim_id: claimId, fingerprint, state: "in_flight", locked_until: lockedUntil, created_at: now })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (inserted.length === 1) return { kind: "proceed", claim_id: claimId, locked_until: lockedUntil, fresh: true };

  const row = await db.query.idempotencyKeys.findFirst({
    where: and(eq(idempotencyKeys.caller, scope), eq(idempotencyKeys.key, key)),
  });
  if (!row) return claim(db, scope, key, fingerprint, now); // removed between our two statements
  if (row.created_at < now - limits.idempotency_retention_ms) {
    // Past retention the key is free again: remove the stale claim and start a new one.
    await db
      .delete(idempotencyKeys)
      .where(and(eq(idempotencyKeys.caller, scope), eq(idempotencyKeys.key, key), eq(idempotencyKeys.claim_id, row.claim_id)));
    return claim(db, scope, key, fingerprint, now);
  }
  if (row.fingerprint !== fingerprint) return { kind: "reused" };
  if (row.state === "completed") return { kind: "replay", status: row.response_status ?? 200, body: row.response_body ?? "" };
  if (row.locked_until > now) return { kind: "in_flight" };
  const taken = await db
    .update(idempotencyKeys)
    .set({ locked_until: lockedUntil })
    .where(and(ownClaim(scope, key, row.claim_id), eq(idempotencyKeys.locked_until, row.locked_until)))
    .returning({ key: idempotencyKeys.key });
  return taken.length === 1 ? { kind: "proceed", claim_id: row.claim_id, locked_until: lockedUntil, fresh: false } : { kind: "in_flight" };
}

/** The row of one claim, while it is not completed. */
function ownClaim(scope: string, key: string, claimId: string) {
  return and(
    eq(idempotencyKeys.caller, scope),
    eq(idempotencyKeys.key, key),
    eq(idempotencyKeys.claim_id, claimId),
    eq(idempotencyKeys.state, "in_flight"),
  );
}

/**
 * Answers that refuse a request before anything ran (API §1): the key is not recorded, so
 * the client may fix the request and retry with the same key. This holds because no handler
 * answers 400 after it has moved anything: every 400 comes from validation (zod, malformed
 * JSON, the Idempotency-Key header), an unsupported currency, or a payout's missing CBU, all
 * checked before the first write. Keep it so: a handler that can fail after writing answers
 * 409, 422 or 5xx, which keep the key's fingerprint.
 */
const refusedBeforeRunning = new Set([400, 413, 415]);

/**
 * Idempotency for every POST (API §1). The request's fingerprint is its method, path and raw
 * body. Once a request has started, its key keeps that fingerprint whatever the answer:
 * - a response below 500 is stored and replayed with `Idempotent-Replayed: true` (secrets
 *   nulled), except a refusal before anything ran (400, 413, 415), which is not recorded;
 * - a 5xx (or a response too large to store) keeps the row and releases its lock: a retry with
 *   the same body runs again at once, under the same claim id, so it reaches the same resources
 *   (every handler is idempotent by the ids it derives); another body is 422
 *   idempotency_key_reused, so a retry can never turn into a different request.
 * The handler sees `c.get("idempotency")` = { key, claim_id }.
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

  c.set("idempotency", { scope, key, claim_id: outcome.claim_id });
  await next();
  // The handler stored this very answer in its own batch (a payout: the claim completes with
  // the payout, one D1 write fewer). Any other answer (a 5xx after that batch) changes nothing
  // below: the row is completed, and every statement below touches only an in-flight claim.
  if (c.get("idempotencyStored") === c.res.status) return;

  const mine = ownClaim(scope, key, outcome.claim_id);
  // Only while we still hold the lock: a request that outlived it must not free or delete a
  // claim another attempt has taken over.
  const mineAndLocked = and(mine, eq(idempotencyKeys.locked_until, outcome.locked_until));
  try {
    const status = c.res.status;
    const body = status >= 500 ? "" : redact(await c.res.clone().text(), c.get("secretFields"));
    if (refusedBeforeRunning.has(status) && outcome.fresh) {
      await db.delete(idempotencyKeys).where(mineAndLocked);
    } else if (refusedBeforeRunning.has(status) || status >= 500 || body.length > limits.idempotency_response_bytes) {
      // Not an answer to replay. The row keeps the fingerprint (and, for a retry of a started
      // claim refused by validation, whatever its first attempt moved stays reachable).
      await db.update(idempotencyKeys).set({ locked_until: 0 }).where(mineAndLocked);
    } else {
      const stored = await db
        .update(idempotencyKeys)
        .set({ state: "completed", response_status: status, response_body: body })
        .where(mine)
        .returning({ key: idempotencyKeys.key });
      // Another attempt under this claim (one that took the lock over while this one ran)
      // completed the key first, e.g. with the 201 of the payout it made. A refusal here must
      // not tell the client "nothing moved" while the key says otherwise (it would pay again
      // under a new key): answer what the key stored. A 2xx stands: under the same claim it
      // reached the same ids, so what it describes exists.
      if (stored.length === 0 && status >= 400) {
        const replay = await storedReplay(c.env.DB, { scope, key, claim_id: outcome.claim_id });
        if (replay) c.res = replay;
      }
    }
  } catch (error) {
    // The response stands; the lock expires and a retry re-runs an idempotent handler.
    log("error", "idempotency record not saved", { request_id: c.get("requestId"), error: String(error) });
  }
};

/**
 * Completes `claim` with `response`, as the middleware would after the handler returns, for a
 * handler that puts it in its own db.batch so that the claim completes with the effect or not
 * at all (a payout: one D1 write fewer). Only while the claim is in flight, and only if
 * `onlyIf` holds inside that batch (the handler's proof that the batch created what `response`
 * describes); the statement's row count says whether it wrote. The handler then sets
 * `idempotencyStored` to `response.status` and must answer exactly `response.body`.
 */
export function storedResponseStatement(
  d1: D1Database,
  claim: IdempotencyClaim,
  response: { status: number; body: string },
  onlyIf: { sql: string; params: unknown[] },
): D1PreparedStatement {
  assert(response.status < 500 && !refusedBeforeRunning.has(response.status), `storedResponseStatement: ${response.status} is never stored`);
  assert(response.body.length <= limits.idempotency_response_bytes, "storedResponseStatement: the response is too large to store");
  return d1
    .prepare(
      `UPDATE idempotency_keys SET state = 'completed', response_status = ?, response_body = ?
       WHERE caller = ? AND key = ? AND claim_id = ? AND state = 'in_flight' AND ${onlyIf.sql}`,
    )
    .bind(response.status, response.body, claim.scope, claim.key, claim.claim_id, ...onlyIf.params);
}

/**
 * storedResponseStatement for an answer D1 computes in the batch itself (`bodySql`, e.g. a
 * json_object over the row the batch wrote, whose amounts SQL decides): same guards. It
 * RETURNs the body it stored, which the handler must answer exactly (no row: it did not write).
 */
export function storedSqlResponseStatement(
  d1: D1Database,
  claim: IdempotencyClaim,
  response: { status: number; bodySql: string; bodyParams: unknown[] },
  onlyIf: { sql: string; params: unknown[] },
): D1PreparedStatement {
  assert(response.status < 500 && !refusedBeforeRunning.has(response.status), `storedSqlResponseStatement: ${response.status} is never stored`);
  return d1
    .prepare(
      `UPDATE idempotency_keys SET state = 'completed', response_status = ?, response_body = (${response.bodySql})
       WHERE caller = ? AND key = ? AND claim_id = ? AND state = 'in_flight' AND ${onlyIf.sql}
       RETURNING response_body`,
    )
    .bind(response.status, ...response.bodyParams, claim.scope, claim.key, claim.claim_id, ...onlyIf.params);
}

/**
 * "The claim is still in flight", as SQL for a handler's batch: a movement guarded by it can no
 * longer be written once the key has stored an answer (e.g. the refusal a taken-over retry
 * stored), so the stored answer never denies what exists.
 */
export function claimInFlight(claim: IdempotencyClaim): { sql: string; params: unknown[] } {
  return {
    sql: "EXISTS (SELECT 1 FROM idempotency_keys WHERE caller = ? AND key = ? AND claim_id = ? AND state = 'in_flight')",
    params: [claim.scope, claim.key, claim.claim_id],
  };
}

/**
 * The answer `claim`'s key stored, as the middleware replays it (`Idempotent-Replayed: true`),
 * or null if it has none (still in flight, or pruned): for a handler whose write found the key
 * completed by another attempt in the meantime.
 */
export async function storedReplay(d1: D1Database, claim: IdempotencyClaim): Promise<Response | null> {
  const row = await d1
    .prepare("SELECT response_status, response_body FROM idempotency_keys WHERE caller = ? AND key = ? AND claim_id = ? AND state = 'completed'")
    .bind(claim.scope, claim.key, claim.claim_id)
    .first<{ response_status: number | null; response_body: string | null }>();
  if (!row) return null;
  return replayResponse(row.response_status ?? 200, row.response_body ?? "");
}

/**
 * What a request answers when its write found its claim no longer in flight ("superseded":
 * nothing moved, nor ever will under this claim): the answer another attempt stored under the
 * key, as a replay. If the key has none, its record was removed while the request ran (pruned
 * past retention): nothing is in flight and nothing moved, so 503 unavailable, whose contract is
 * "nothing changed: retry with the same Idempotency-Key" (the retry claims the key afresh).
 */
export async function supersededAnswer(d1: D1Database, claim: IdempotencyClaim): Promise<Response> {
  const stored = await storedReplay(d1, claim);
  if (stored) return stored;
  throw new ApiError(
    "unavailable",
    "This request's Idempotency-Key record expired while the request ran, so it did nothing: retry with the same Idempotency-Key.",
  );
}

/** A stored answer as the middleware's "replay" case sends it. */
function replayResponse(status: number, body: string): Response {
  const contentType = status >= 400 ? "application/problem+json" : "application/json";
  return new Response(body, { status, headers: { "content-type": contentType, "Idempotent-Replayed": "true" } });
}

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

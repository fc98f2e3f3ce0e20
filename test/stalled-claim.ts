/**
 * The "stale refusal" interleaving, driven step by step: attempt A claims an Idempotency-Key and
 * stalls before its write; its lock expires; retry B takes the claim over (same claim id, so the
 * same resource id) and stores a refusal; then A's write runs. A test makes A's claim with
 * `stalledClaim` (its lock already expired), sends B through the API, then calls A's write itself.
 */
import { env } from "cloudflare:workers";
import type { IdempotencyClaim } from "../src/context";
import { sha256Hex } from "../src/crypto";
import { uniqueId } from "./money";

/** A's claim on `path` with `body` (the middleware's fingerprint), in flight with its lock expired. */
export async function stalledClaim(scope: string, path: string, body: Record<string, unknown>): Promise<IdempotencyClaim> {
  const claim = { scope, key: uniqueId("idem"), claim_id: uniqueId("claim") };
  const fingerprint = await sha256Hex(`POST ${path}\n${JSON.stringify(body)}`);
  await env.DB.prepare("INSERT INTO idempotency_keys (caller, key, claim_id, fingerprint, state, locked_until, created_at) VALUES (?, ?, ?, ?, 'in_flight', 0, ?)")
    .bind(claim.scope, claim.key, claim.claim_id, fingerprint, Date.now())
    .run();
  return claim;
}

/** The key's record: its state and stored answer. */
export async function keyRecord(claim: IdempotencyClaim) {
  return env.DB.prepare("SELECT state, response_status, response_body FROM idempotency_keys WHERE caller = ? AND key = ?")
    .bind(claim.scope, claim.key)
    .first<{ state: string; response_status: number | null; response_body: string | null }>();
}

/**
 * Merchants (API §3): the operator creates them and manages their keys; a merchant reads
 * itself and its balance.
 */
import { createRoute } from "@hono/zod-openapi";
import { and, eq, sql } from "drizzle-orm";
import { newRouter } from "../context";
import { newId, randomToken, sha256Hex } from "../crypto";
import type { Config } from "../env";
import { database } from "../db/client";
import { apiKeys, merchants, type MerchantRow } from "../db/schema";
import { formatReference, generateReference } from "../domain/reference-code";
import { ApiError } from "../errors";
import { enabledCurrency, readMerchantBalance } from "../ledger/balances";
import { merchantAccounts, openAccountStatement } from "../ledger/accounts";
import { limits } from "../limits";
import { merchantBalanceAccountIds } from "../transfers/balance-account-view";
import { apiKeyCache } from "../middleware/api-key-cache";
import { merchantIdOf, requireMerchant, requireOperator } from "../middleware/auth";
import { bodyProblemStatuses, jsonBody, jsonResponse, problemResponses, rfc3339 } from "../schemas/common";
import {
  apiKeyParams,
  balanceQuery,
  balanceView,
  createdApiKeySchema,
  createdMerchantSchema,
  createMerchantRequest,
  merchantBalanceSchema,
  merchantIdParams,
  merchantSchema,
  revokedApiKeySchema,
} from "../schemas/merchants";
import { webhookUrlProblem } from "../webhooks/destination";
import { defaultWebhookEvents, storedWebhookEvents } from "../webhooks/event-filter";
import { mintWebhookSecret } from "../webhooks/merchant-secret";

const operator = { tags: ["Merchants"], security: [{ operatorKey: [] }], middleware: [requireOperator] };
const merchantSelf = { tags: ["Merchant self"], security: [{ merchantKey: [] }], middleware: [requireMerchant] };

/** Merchant API keys: `vak_<8>_<52>`; the first 12 characters are the stored, public prefix. */
const API_KEY_PREFIX_LENGTH = 12;

interface MintedKey {
  api_key: string;
  key_prefix: string;
  key_hash: string;
}

async function mintApiKey(): Promise<MintedKey> {
  const api_key = `vak_${randomToken(8)}_${randomToken(52)}`;
  return { api_key, key_prefix: api_key.slice(0, API_KEY_PREFIX_LENGTH), key_hash: await sha256Hex(api_key) };
}

/**
 * Stores a key's hash, only if the merchant exists (so a missing merchant changes nothing).
 * Raw: a conditional INSERT … SELECT … WHERE EXISTS, which drizzle cannot express.
 */
function insertApiKey(d1: D1Database, merchantId: string, key: MintedKey, now: number): D1PreparedStatement {
  return d1
    .prepare(
      `INSERT INTO api_keys (prefix, merchant_id, key_hash, created_at)
       SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM merchants WHERE id = ?2)`,
    )
    .bind(key.key_prefix, merchantId, key.key_hash, now);
}

function isUniqueViolation(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return `${String(error)} ${String(cause ?? "")}`.includes("UNIQUE constraint failed");
}

/**
 * Mints random values that must be unique (a reference, a key prefix) until the database
 * accepts them; `write` must be atomic, so a refused attempt leaves nothing behind.
 */
async function withUniqueRetry<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= limits.reference_mint_attempts) throw error;
    }
  }
}

/** The merchant as the API shows it; its balance accounts are those in `primaryCurrency` (the first of CURRENCIES). */
export function merchantView(row: MerchantRow, primaryCurrency: string) {
  return {
    id: row.id,
    name: row.name,
    reference: formatReference(row.reference),
    webhook_url: row.webhook_url,
    webhook_events: storedWebhookEvents(row.webhook_events),
    ...merchantBalanceAccountIds(row.id, primaryCurrency),
    payout_cbu: row.payout_cbu,
    created_at: rfc3339(row.created_at),
  };
}

export async function findMerchant(d1: D1Database, id: string): Promise<MerchantRow> {
  const row = await database(d1).select().from(merchants).where(eq(merchants.id, id)).get();
  if (!row) throw new ApiError("not_found", `No such merchant: ${id}.`);
  return row;
}

/**
 * Refuses a webhook URL we may not send to (src/webhooks/destination.ts; the sandbox allows
 * plain http to localhost) as a schema error would: 400 invalid_request naming `webhook_url`.
 * Called before any write, so the Idempotency-Key is not recorded (API §1).
 */
export function assertWebhookUrlAllowed(url: string | null | undefined, config: Config): void {
  if (url === null || url === undefined) return;
  const problem = webhookUrlProblem(url, config.sandbox);
  if (problem) throw new ApiError("invalid_request", `webhook_url: ${problem}`, [{ path: "webhook_url", message: problem }]);
}

const createMerchant = createRoute({
  method: "post",
  path: "/v1/merchants",
  operationId: "createMerchant",
  ...operator,
  summary: "Create a merchant",
  description:
    "Creates a merchant with its deposit reference, its ledger accounts in every enabled currency, a first API key " +
    "and a webhook secret. `api_key` and `webhook_secret` appear only in this response: they are never stored in clear " +
    "(the key as a hash, the webhook secret sealed with AES-GCM under WEBHOOK_SECRET_KEY), so a replay under the same " +
    "Idempotency-Key returns 201 with the same merchant and both null, and mints nothing (if they were lost: issue a new " +
    "key with POST /v1/merchants/{id}/api-keys, and the merchant rotates its secret with POST /v1/merchant/webhook-secret). " +
    "`webhook_url` and `webhook_events` follow the rules of PATCH /v1/merchant.",
  request: { body: jsonBody(createMerchantRequest) },
  responses: {
    201: jsonResponse(createdMerchantSchema, "The new merchant, with its secrets."),
    ...problemResponses(403, 409, 422, ...bodyProblemStatuses),
  },
});

const getMerchant = createRoute({
  method: "get",
  path: "/v1/merchants/{id}",
  operationId: "getMerchant",
  ...operator,
  summary: "Retrieve a merchant",
  request: { params: merchantIdParams },
  responses: { 200: jsonResponse(merchantSchema, "The merchant, without secrets."), ...problemResponses(403, 404) },
});

const createApiKey = createRoute({
  method: "post",
  path: "/v1/merchants/{id}/api-keys",
  operationId: "createMerchantApiKey",
  ...operator,
  summary: "Issue a new API key",
  description:
    "Issues an additional key for the merchant; existing keys keep working until revoked. The response also " +
    "carries `key_prefix` (an addition to the contract): the handle by which the key is revoked. A replay under the " +
    "same Idempotency-Key returns `api_key: null`: keys are stored only as hashes.",
  request: { params: merchantIdParams },
  responses: {
    201: jsonResponse(createdApiKeySchema, "The new key, shown only here."),
    ...problemResponses(403, 404, 409, 422, ...bodyProblemStatuses),
  },
});

const revokeApiKey = createRoute({
  method: "delete",
  path: "/v1/merchants/{id}/api-keys/{key_prefix}",
  operationId: "revokeMerchantApiKey",
  ...operator,
  summary: "Revoke an API key",
  description:
    `Revokes the key: it answers 401 at most ${limits.api_key_cache_ms / 1000} s after this call returns (each isolate ` +
    "of the Worker trusts a key it has read for that long; see the merchantKey security scheme). Revoking an already revoked key answers the same " +
    "200 again (a DELETE is safe to retry). Revoking a merchant's last key is allowed.",
  request: { params: apiKeyParams },
  responses: { 200: jsonResponse(revokedApiKeySchema, "The revoked key."), ...problemResponses(403, 404) },
});

const getSelf = createRoute({
  method: "get",
  path: "/v1/merchant",
  operationId: "getCurrentMerchant",
  ...merchantSelf,
  summary: "Retrieve the calling merchant",
  responses: { 200: jsonResponse(merchantSchema, "The merchant that owns the key."), ...problemResponses(403) },
});

const getSelfBalance = createRoute({
  method: "get",
  path: "/v1/merchant/balance",
  operationId: "getCurrentMerchantBalance",
  ...merchantSelf,
  summary: "Retrieve the calling merchant's balance",
  description:
    "The merchant's balance in one currency (ARS unless `currency` names another enabled one). Cash-ins reach it with their group commit, a fraction of a second (a group gathers for at most 200 ms) " +
    "after the customer's balance shows them (docs/PERFORMANCE.md); payouts and reversals move it at once. A late credit only makes the payout guard stricter: " +
    "a payout may briefly find less than the true balance, never more.",
  request: { query: balanceQuery },
  responses: { 200: jsonResponse(merchantBalanceSchema, "The balance."), ...problemResponses(403) },
});

export const merchantsRouter = newRouter()
  .openapi(createMerchant, async (c) => {
    const body = c.req.valid("json");
    const d1 = c.env.DB;
    const config = c.get("config");
    const currencies = config.currencies;
    assertWebhookUrlAllowed(body.webhook_url, config);
    const created = await withUniqueRetry(async () => {
      const id = newId("mer");
      // Sealed with the merchant's id as additional data: minted per attempt, as the id is.
      const secret = await mintWebhookSecret(config.webhookSecretKey, id);
      const row: MerchantRow = {
        id,
        name: body.name,
        reference: generateReference("merchant"),
        webhook_url: body.webhook_url ?? null,
        webhook_events: JSON.stringify(body.webhook_events ?? defaultWebhookEvents),
        webhook_secret: secret.sealed,
        created_at: Date.now(),
        payout_cbu: null,
      };
      const key = await mintApiKey();
      // Merchant, key and ledger accounts commit together or not at all. Raw statements: the
      // key's insert is conditional and the ledger's openers are shared with other batches.
      await d1.batch([
        d1
          .prepare("INSERT INTO merchants (id, name, reference, webhook_url, webhook_events, webhook_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
          .bind(row.id, row.name, row.reference, row.webhook_url, row.webhook_events, row.webhook_secret, row.created_at),
        insertApiKey(d1, row.id, key, row.created_at),
        ...merchantAccounts(row.id, currencies).map((account) => openAccountStatement(d1, account, row.created_at)),
      ]);
      return { row, key, webhook_secret: secret.secret };
    });
    c.set("secretFields", ["api_key", "webhook_secret"]);
    return c.json({ ...merchantView(created.row, c.get("config").currencies[0]!), api_key: created.key.api_key, webhook_secret: created.webhook_secret }, 201);
  })
  .openapi(getMerchant, async (c) => {
    const merchant = await findMerchant(c.env.DB, c.req.valid("param").id);
    return c.json(merchantView(merchant, c.get("config").currencies[0]!), 200);
  })
  .openapi(createApiKey, async (c) => {
    const merchantId = c.req.valid("param").id;
    const d1 = c.env.DB;
    const key = await withUniqueRetry(async () => {
      const minted = await mintApiKey();
      const result = await insertApiKey(d1, merchantId, minted, Date.now()).run();
      return result.meta.changes === 1 ? minted : null;
    });
    if (!key) throw new ApiError("not_found", `No such merchant: ${merchantId}.`);
    c.set("secretFields", ["api_key"]);
    return c.json({ api_key: key.api_key, key_prefix: key.key_prefix }, 201);
  })
  .openapi(revokeApiKey, async (c) => {
    const { id, key_prefix } = c.req.valid("param");
    // Revoking twice keeps the first revocation's time.
    const row = await database(c.env.DB)
      .update(apiKeys)
      .set({ revoked_at: sql`COALESCE(${apiKeys.revoked_at}, ${Date.now()})` })
      .where(and(eq(apiKeys.prefix, key_prefix), eq(apiKeys.merchant_id, id)))
      .returning({ revoked_at: apiKeys.revoked_at, key_hash: apiKeys.key_hash })
      .get();
    if (!row || row.revoked_at === null) throw new ApiError("not_found", `No API key ${key_prefix} for merchant ${id}.`);
    // This isolate stops trusting it at once; others within limits.api_key_cache_ms.
    apiKeyCache.forget(row.key_hash);
    return c.json({ key_prefix, revoked: true as const, revoked_at: rfc3339(row.revoked_at) }, 200);
  })
  .openapi(getSelf, async (c) => {
    const merchant = await findMerchant(c.env.DB, merchantIdOf(c.get("caller")));
    return c.json(merchantView(merchant, c.get("config").currencies[0]!), 200);
  })
  .openapi(getSelfBalance, async (c) => {
    const currency = enabledCurrency(c.get("config").currencies, c.req.valid("query").currency);
    const merchant_id = merchantIdOf(c.get("caller"));
    const balance = await readMerchantBalance(c.env.DB, merchant_id, currency);
    return c.json({ merchant_id, ...balanceView(balance) }, 200);
  });

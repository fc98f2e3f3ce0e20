/**
 * The merchant API keys this isolate has read from D1, so that a request does not pay a D1
 * read to learn who is calling (issue 9, the front door).
 *
 * What it may cost, stated once (limits.api_key_cache_ms): a key is trusted for at most that
 * long after the D1 read that found it began. A revocation committed at time r is seen by
 * every read that starts after r, and every entry read before r expires by r + api_key_cache_ms,
 * so a revoked key answers 401 everywhere at most api_key_cache_ms after its DELETE (at once in
 * the isolate that served the DELETE, which forgets it). Keys are only ever issued and revoked
 * (API §3): there is no rotation in place and no deletion, and a revoked key never comes back.
 *
 * What it never does: cache a key that was not found (a key issued a moment later must work at
 * once, and no answer of "unknown" is ever reused), or hold a raw key. Entries are keyed by the
 * key's SHA-256, the very value D1 stores, so one key can never be served another's entry.
 */
import { and, eq, isNull } from "drizzle-orm";
import { BoundedCache } from "../cache";
import { database } from "../db/client";
import { apiKeys } from "../db/schema";
import { limits } from "../limits";

export interface MerchantKey {
  merchant_id: string;
  prefix: string;
}

interface Entry {
  key: MerchantKey;
  /** When the D1 read that found the key began (ms): the entry is as old as that read. */
  read_at: number;
}

export interface ApiKeyCacheOptions {
  ttl_ms: number;
  capacity: number;
  /** The clock (ms): tests move it instead of sleeping. */
  now?: () => number;
}

/** The live (unrevoked) key with this hash, straight from D1. */
export async function readMerchantKey(d1: D1Database, keyHash: string): Promise<MerchantKey | null> {
  const row = await database(d1)
    .select({ prefix: apiKeys.prefix, merchant_id: apiKeys.merchant_id })
    .from(apiKeys)
    .where(and(eq(apiKeys.key_hash, keyHash), isNull(apiKeys.revoked_at)))
    .get();
  return row ?? null;
}

export class ApiKeyCache {
  private readonly entries: BoundedCache<Entry>;
  private readonly now: () => number;

  constructor(readonly options: ApiKeyCacheOptions) {
    this.entries = new BoundedCache(options.capacity);
    this.now = options.now ?? Date.now;
  }

  /** The merchant key with this SHA-256, or null (401): from memory while fresh, else from D1. */
  async lookup(d1: D1Database, keyHash: string): Promise<MerchantKey | null> {
    const now = this.now();
    const hit = this.entries.get(keyHash);
    // A clock that went back (now < read_at) proves nothing about the entry's age: read again.
    if (hit !== undefined && now >= hit.read_at && now - hit.read_at < this.options.ttl_ms) return hit.key;
    const key = await readMerchantKey(d1, keyHash);
    if (key === null) this.entries.delete(keyHash);
    else this.entries.set(keyHash, { key, read_at: now });
    return key;
  }

  /** Forgets a key at once (this isolate just revoked it). */
  forget(keyHash: string): void {
    this.entries.delete(keyHash);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cache keys held (SHA-256 hex digests): for tests that check what is stored. */
  cachedHashes(): string[] {
    return [...this.entries.keys()];
  }
}

/** This isolate's cache, used by the authenticate middleware and the revoke route. */
export const apiKeyCache = new ApiKeyCache({ ttl_ms: limits.api_key_cache_ms, capacity: limits.api_key_cache_entries });

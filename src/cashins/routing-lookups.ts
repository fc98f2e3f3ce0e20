/** What the routing rules look up, answered from D1, with the immutable answers cached. */
import { findOrCreateCustomer } from "../db/customers";
import type { Config, Env } from "../env";
import { limits } from "../limits";
import type { RoutingLookups } from "./route-transfer";

/**
 * A reference, once issued, names the same customer and merchant forever (links are never
 * deleted or re-keyed), so a found reference can be cached for the life of the isolate. A
 * reference not found is not cached: it may be issued a moment later.
 */
class ImmutableCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}

  async get(key: string, load: () => Promise<V | null>): Promise<V | null> {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const value = await load();
    if (value !== null) {
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, value);
    }
    return value;
  }
}

const customerReferences = new ImmutableCache<{ customer_id: string; merchant_id: string }>(limits.reference_cache_entries);
const merchantReferences = new ImmutableCache<{ merchant_id: string }>(limits.reference_cache_entries);

export function d1RoutingLookups(env: Env, config: Config): RoutingLookups {
  const d1 = env.DB;
  return {
    // Rule 1's hook: per-customer and per-transaction CVUs arrive with API §11; until then
    // no account number is ours and routing continues with the references.
    virtualAccount: async () => null,
    customerReference: (code) =>
      customerReferences.get(code, () =>
        d1.prepare("SELECT customer_id, merchant_id FROM customer_links WHERE reference = ?").bind(code).first<{ customer_id: string; merchant_id: string }>(),
      ),
    merchantReference: (code) =>
      merchantReferences.get(code, () =>
        d1.prepare("SELECT id AS merchant_id FROM merchants WHERE reference = ?").bind(code).first<{ merchant_id: string }>(),
      ),
    senderCustomer: async (sender) => {
      const { customer } = await findOrCreateCustomer(d1, { ...sender, origin: "auto" }, config.currencies);
      return customer.id;
    },
  };
}

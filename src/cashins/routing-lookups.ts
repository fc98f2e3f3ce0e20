/** What the routing rules look up, answered from D1. */
import { findOrCreateCustomer } from "../db/customers";
import type { Config, Env } from "../env";
import type { RoutingLookups } from "./route-transfer";

export function d1RoutingLookups(env: Env, config: Config): RoutingLookups {
  const d1 = env.DB;
  return {
    // Rule 1's hook: per-customer and per-transaction CVUs arrive with API §11; until then
    // no account number is ours and routing continues with the references.
    virtualAccount: async () => null,
    customerReference: (code) =>
      d1
        .prepare("SELECT customer_id, merchant_id FROM customer_links WHERE reference = ?")
        .bind(code)
        .first<{ customer_id: string; merchant_id: string }>(),
    merchantReference: (code) =>
      d1.prepare("SELECT id AS merchant_id FROM merchants WHERE reference = ?").bind(code).first<{ merchant_id: string }>(),
    senderCustomer: async (sender) => {
      const { customer } = await findOrCreateCustomer(d1, { ...sender, origin: "auto" }, config.currencies);
      return customer.id;
    },
  };
}

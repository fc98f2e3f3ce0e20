/**
 * Ledger account identities. Ids are derived from what owns the account, so that any code
 * (a route, a projection replayed by a Durable Object alarm) can address an account without
 * a lookup, and creating it twice is a no-op.
 */
export const ledgerAccountKinds = ["settlement", "suspense", "attribution", "customer", "merchant", "merchant_unassigned", "reserve", "platform"] as const;
export type LedgerAccountKind = (typeof ledgerAccountKinds)[number];

/** The kinds that are balance accounts (API §12): real money, owed to a merchant or the platform. */
export const balanceAccountKinds = ["merchant", "reserve", "platform"] as const;
export type BalanceAccountKind = (typeof balanceAccountKinds)[number];

export interface LedgerAccountSpec {
  id: string;
  kind: LedgerAccountKind;
  owner_id: string;
  name: string;
  normal_balance: "credit" | "debit";
  currency: string;
  ledgerable_type: string | null;
  ledgerable_id: string | null;
  no_overdraft: 0 | 1;
}

function suffix(ownerId: string): string {
  return ownerId.slice(ownerId.indexOf("_") + 1);
}

/**
 * The platform's own accounts: the bank account (asset), suspense, the customers' memo contra
 * (`attribution`), and the platform's balance account where its commission lands.
 */
export const platformAccountId = {
  settlement: (currency: string) => `la_settlement_${currency.toLowerCase()}`,
  suspense: (currency: string) => `la_suspense_${currency.toLowerCase()}`,
  attribution: (currency: string) => `la_attribution_${currency.toLowerCase()}`,
  platform: (currency: string) => `la_platform_${currency.toLowerCase()}`,
};

/** A balance account's public id (API §12): the ledger account `la_<x>` is `ba_<x>`. */
export function balanceAccountId(ledgerAccountId: string): string {
  return `ba_${ledgerAccountId.slice(3)}`;
}

/**
 * The ledger account behind a balance-account id, or null when the id cannot name one. This is
 * syntax only: whether it exists and is a balance account is the caller's read of
 * `balance_accounts` (a customer's `la_c…` has no `ba_` face: that view excludes it).
 */
export function ledgerAccountIdOfBalanceAccount(id: string): string | null {
  return /^ba_[a-z0-9_]{1,100}$/.test(id) ? `la_${id.slice(3)}` : null;
}

export function customerAccount(customerId: string, currency: string): LedgerAccountSpec {
  return {
    id: `la_c${suffix(customerId)}_${currency.toLowerCase()}`,
    kind: "customer",
    owner_id: customerId,
    name: `Customer ${customerId} (${currency})`,
    normal_balance: "credit",
    currency,
    ledgerable_type: "customer",
    ledgerable_id: customerId,
    // The customer's Durable Object guards this balance first. D1's copy trails it by the group
    // commit and refuses an overdraft too (the payout is then rejected whole, and the object
    // releases it): a credit not yet in D1 — in flight, or about to be refused — is never paid
    // out (migrations/0009, docs/MONEY.md "Group commit").
    no_overdraft: 1,
  };
}

export function merchantAccount(merchantId: string, currency: string): LedgerAccountSpec {
  return {
    id: `la_m${suffix(merchantId)}_${currency.toLowerCase()}`,
    kind: "merchant",
    owner_id: merchantId,
    name: `Merchant ${merchantId} balance (${currency})`,
    normal_balance: "credit",
    currency,
    ledgerable_type: "merchant",
    ledgerable_id: merchantId,
    no_overdraft: 1, // D1 is the merchant balance's guard: see migrations/0002
  };
}

/**
 * The merchant's reserve (API §12): money withheld from its payouts as a risk buffer, released
 * back to its balance account by the cron. Real money, like the balance account.
 */
export function reserveAccount(merchantId: string, currency: string): LedgerAccountSpec {
  return {
    id: `la_r${suffix(merchantId)}_${currency.toLowerCase()}`,
    kind: "reserve",
    owner_id: merchantId,
    name: `Merchant ${merchantId} reserve (${currency})`,
    normal_balance: "credit",
    currency,
    ledgerable_type: "merchant",
    ledgerable_id: merchantId,
    no_overdraft: 1,
  };
}

/** The platform's own balance account (API §12): commission lands here; top-ups default from it. */
export function platformBalanceAccount(currency: string): LedgerAccountSpec {
  return {
    id: platformAccountId.platform(currency),
    kind: "platform",
    owner_id: "platform",
    name: `Platform balance (${currency})`,
    normal_balance: "credit",
    currency,
    ledgerable_type: null,
    ledgerable_id: null,
    no_overdraft: 1,
  };
}

/**
 * Money a merchant received from senders with no usable CUIT (API §5 rule 3): a memo account,
 * like a customer's (the money itself is in the merchant's balance account).
 */
export function merchantUnassignedAccount(merchantId: string, currency: string): LedgerAccountSpec {
  return {
    id: `la_u${suffix(merchantId)}_${currency.toLowerCase()}`,
    kind: "merchant_unassigned",
    owner_id: merchantId,
    name: `Merchant ${merchantId} unassigned funds (${currency})`,
    normal_balance: "credit",
    currency,
    ledgerable_type: "merchant",
    ledgerable_id: merchantId,
    no_overdraft: 1,
  };
}

/**
 * An INSERT that opens `account` unless it exists. With `ownerTable`, it opens only if the
 * owner row exists: a customer insert that lost a race (ON CONFLICT DO NOTHING) must not
 * leave an account behind for an id that never became a customer.
 */
export function openAccountStatement(d1: D1Database, account: LedgerAccountSpec, now: number, ownerTable?: "customers" | "merchants"): D1PreparedStatement {
  // SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT to parse the ON as the upsert clause.
  const guard = ownerTable ? ` WHERE EXISTS (SELECT 1 FROM ${ownerTable} WHERE id = ?10)` : " WHERE 1";
  const statement = d1.prepare(
    `INSERT INTO ledger_accounts (id, kind, owner_id, name, normal_balance, currency, ledgerable_type, ledgerable_id, no_overdraft, created_at, updated_at)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?11${guard}
     ON CONFLICT DO NOTHING`,
  );
  return statement.bind(
    account.id,
    account.kind,
    account.owner_id,
    account.name,
    account.normal_balance,
    account.currency,
    account.ledgerable_type,
    account.ledgerable_id,
    account.no_overdraft,
    account.owner_id,
    now,
  );
}

/** The platform's accounts in one currency (ARS's are opened by the migration). */
export function platformAccounts(currency: string): LedgerAccountSpec[] {
  const platform = { owner_id: "platform", currency, ledgerable_type: null, ledgerable_id: null, no_overdraft: 0 as const };
  return [
    { ...platform, id: platformAccountId.settlement(currency), kind: "settlement", name: `Settlement bank account (${currency})`, normal_balance: "debit", ledgerable_type: "internal_account", ledgerable_id: "settlement" },
    { ...platform, id: platformAccountId.suspense(currency), kind: "suspense", name: `Suspense: unmatched cash-ins (${currency})`, normal_balance: "credit" },
    { ...platform, id: platformAccountId.attribution(currency), kind: "attribution", name: `Customer attribution, memo contra (${currency})`, normal_balance: "debit" },
    platformBalanceAccount(currency),
  ];
}

/** Every account a new merchant needs, in every enabled currency (and the platform's, if new). */
export function merchantAccounts(merchantId: string, currencies: readonly string[]): LedgerAccountSpec[] {
  return currencies.flatMap((currency) => [
    ...platformAccounts(currency),
    merchantAccount(merchantId, currency),
    reserveAccount(merchantId, currency),
    merchantUnassignedAccount(merchantId, currency),
  ]);
}

/** Every account a new customer needs, in every enabled currency. */
export function customerAccounts(customerId: string, currencies: readonly string[]): LedgerAccountSpec[] {
  return currencies.map((currency) => customerAccount(customerId, currency));
}

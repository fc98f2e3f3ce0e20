/**
 * The D1 schema as drizzle sees it: every table. The SQL in migrations/ is the source of truth
 * (it also holds the triggers, checks and views drizzle cannot express); this file mirrors it
 * for typed queries and inferred row types, and test/db/schema-agreement.test.ts fails when the
 * two disagree (a table, a column, its type, NOT NULL or primary key).
 */
import { integer, primaryKey, sqliteTable, sqliteView, text, unique } from "drizzle-orm/sqlite-core";
import { eventTypes } from "../events/event-types";
import { ledgerAccountKinds } from "../ledger/accounts";

export const merchants = sqliteTable("merchants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  reference: text("reference").notNull().unique(),
  webhook_url: text("webhook_url"),
  webhook_secret: text("webhook_secret").notNull(),
  created_at: integer("created_at").notNull(),
  /** Where the merchant's own payouts go (API §12), set by the operator. */
  payout_cbu: text("payout_cbu"),
  /** Event types delivered to webhook_url: a JSON array, '["*"]' for all (src/webhooks/event-filter.ts, migrations/0023). */
  webhook_events: text("webhook_events").notNull().default('["*"]'),
});

export const apiKeys = sqliteTable("api_keys", {
  prefix: text("prefix").primaryKey(),
  merchant_id: text("merchant_id").notNull(),
  key_hash: text("key_hash").notNull().unique(),
  created_at: integer("created_at").notNull(),
  revoked_at: integer("revoked_at"),
});

export const customers = sqliteTable("customers", {
  id: text("id").primaryKey(),
  cuit: text("cuit").notNull().unique(),
  name: text("name").notNull(),
  cbu: text("cbu"),
  origin: text("origin", { enum: ["api", "auto"] }).notNull(),
  last_merchant_id: text("last_merchant_id"),
  created_at: integer("created_at").notNull(),
});

export const customerLinks = sqliteTable(
  "customer_links",
  {
    customer_id: text("customer_id").notNull(),
    merchant_id: text("merchant_id").notNull(),
    reference: text("reference").notNull().unique(),
    created_at: integer("created_at").notNull(),
    /** The CBU this merchant gave when registering the customer, kept only if it was the one on file (API §4). */
    supplied_cbu: text("supplied_cbu"),
  },
  (table) => [primaryKey({ columns: [table.customer_id, table.merchant_id] })],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    caller: text("caller").notNull(),
    key: text("key").notNull(),
    /** One claim of the key: kept by its retries, new once the key is claimed after retention. */
    claim_id: text("claim_id").notNull(),
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["in_flight", "completed"] }).notNull(),
    response_status: integer("response_status"),
    response_body: text("response_body"),
    locked_until: integer("locked_until").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.caller, table.key] })],
);

const timestamps = {
  created_at: integer("created_at").notNull(),
  updated_at: integer("updated_at").notNull(),
};

export const bankEvents = sqliteTable("bank_events", {
  id: text("id").primaryKey(),
  type: text("type").notNull(),
  status: text("status", { enum: ["processed", "failed"] }).notNull(),
  payload: text("payload").notNull(),
  error: text("error"),
  attempts: integer("attempts").notNull().default(1),
  received_at: integer("received_at").notNull(),
  updated_at: integer("updated_at").notNull(),
});

export const ledgerAccounts = sqliteTable(
  "ledger_accounts",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ledgerAccountKinds }).notNull(),
    owner_id: text("owner_id").notNull(),
    name: text("name").notNull(),
    normal_balance: text("normal_balance", { enum: ["credit", "debit"] }).notNull(),
    currency: text("currency").notNull(),
    ledgerable_type: text("ledgerable_type"),
    ledgerable_id: text("ledgerable_id"),
    no_overdraft: integer("no_overdraft").notNull().default(0),
    posted_debits: integer("posted_debits").notNull().default(0),
    posted_credits: integer("posted_credits").notNull().default(0),
    pending_debits: integer("pending_debits").notNull().default(0),
    pending_credits: integer("pending_credits").notNull().default(0),
    ...timestamps,
  },
  (table) => [unique().on(table.kind, table.owner_id, table.currency)],
);

/**
 * Balance accounts (API §12): the real-money ledger accounts (merchant, reserve, platform) seen
 * as a client needs them, `ba_<x>` for `la_<x>`. A view defined by migrations/0015.
 */
export const balanceAccounts = sqliteView("balance_accounts", {
  id: text("id").notNull(),
  ledger_account_id: text("ledger_account_id").notNull(),
  owner_id: text("owner_id").notNull(),
  kind: text("kind", { enum: ["merchant", "reserve", "platform"] }).notNull(),
  currency: text("currency").notNull(),
  available: integer("available").notNull(),
  reserved: integer("reserved").notNull(),
  created_at: integer("created_at").notNull(),
  updated_at: integer("updated_at").notNull(),
}).existing();
export type BalanceAccountRow = typeof balanceAccounts.$inferSelect;

export const ledgerTransactions = sqliteTable("ledger_transactions", {
  id: text("id").primaryKey(),
  status: text("status", { enum: ["pending", "posted", "archived"] }).notNull(),
  description: text("description").notNull(),
  ledgerable_type: text("ledgerable_type"),
  ledgerable_id: text("ledgerable_id"),
  effective_at: integer("effective_at").notNull(),
  ...timestamps,
});

export const ledgerEntries = sqliteTable("ledger_entries", {
  id: text("id").primaryKey(),
  transaction_id: text("transaction_id").notNull(),
  ledger_account_id: text("ledger_account_id").notNull(),
  direction: text("direction", { enum: ["debit", "credit"] }).notNull(),
  amount: integer("amount").notNull(),
  status: text("status", { enum: ["pending", "posted", "archived"] }).notNull(),
  may_overdraw: integer("may_overdraw").notNull().default(0),
  created_at: integer("created_at").notNull(),
  /** 1: written by a group commit, which updates balances itself (migrations/0009). */
  aggregated: integer("aggregated").notNull().default(0),
});

export const payments = sqliteTable("payments", {
  id: text("id").primaryKey(),
  bank_transaction_id: text("bank_transaction_id").notNull().unique(),
  status: text("status", { enum: ["credited", "quarantined", "reversed", "returned"] }).notNull(),
  amount: integer("amount").notNull(),
  currency: text("currency").notNull(),
  customer_id: text("customer_id"),
  merchant_id: text("merchant_id"),
  sender_cuit: text("sender_cuit"),
  sender_name: text("sender_name"),
  sender_cbu: text("sender_cbu"),
  concepto: text("concepto"),
  destination_account_number: text("destination_account_number"),
  matched_by: text("matched_by", { enum: ["virtual_account", "customer_reference", "merchant_reference", "manual"] }),
  booked_at: integer("booked_at").notNull(),
  booked_date: text("booked_date").notNull(),
  reversal_id: text("reversal_id").unique(),
  reconciled_by: text("reconciled_by"),
  ...timestamps,
  fingerprint: text("fingerprint"),
  /** Routing rule 1 (API §11): the virtual account the transfer was sent to. */
  virtual_account_id: text("virtual_account_id"),
  quarantine_reason: text("quarantine_reason"),
  /** Commission (API §12): the fee this payment moved from its merchant to the platform, decided once. */
  fee_amount: integer("fee_amount").notNull().default(0),
});

export const payouts = sqliteTable("payouts", {
  id: text("id").primaryKey(),
  kind: text("kind", { enum: ["payout", "return", "merchant_payout"] }).notNull().default("payout"),
  merchant_id: text("merchant_id"),
  customer_id: text("customer_id"),
  payment_id: text("payment_id"),
  amount: integer("amount").notNull(),
  currency: text("currency").notNull(),
  destination_cbu: text("destination_cbu").notNull(),
  description: text("description"),
  status: text("status", { enum: ["pending", "processing", "completed", "failed", "canceled", "rejected"] }).notNull(),
  failure_reason: text("failure_reason"),
  bank_transaction_id: text("bank_transaction_id").unique(),
  submit_attempts: integer("submit_attempts").notNull().default(0),
  submitted_at: integer("submitted_at"),
  customer_sync: text("customer_sync", { enum: ["settle", "release"] }),
  completed_date: text("completed_date"),
  reconciled_by: text("reconciled_by"),
  ...timestamps,
  fingerprint: text("fingerprint"),
  /** A merchant payout (API §12): withheld into the reserve at creation; the bank is sent amount − withheld_amount. */
  withheld_amount: integer("withheld_amount").notNull().default(0),
  reserve_policy_id: text("reserve_policy_id"),
});

/** A merchant's reserve policy in force (API §12; migrations/0018). */
export const reservePolicies = sqliteTable("reserve_policies", {
  merchant_id: text("merchant_id").primaryKey(),
  id: text("id").notNull().unique(),
  type: text("type", { enum: ["percentage", "fixed"] }).notNull(),
  percentage_bps: integer("percentage_bps"),
  amount: integer("amount"),
  currency: text("currency").notNull(),
  holding_days: integer("holding_days").notNull(),
  threshold_reached_at: integer("threshold_reached_at"),
  ...timestamps,
});
export type ReservePolicyRow = typeof reservePolicies.$inferSelect;

/** One withholding into a reserve, until the cron releases it or its payout fails or is canceled (migrations/0018, 0020). */
export const reserveHolds = sqliteTable("reserve_holds", {
  payout_id: text("payout_id").primaryKey(),
  merchant_id: text("merchant_id").notNull(),
  policy_id: text("policy_id").notNull(),
  amount: integer("amount").notNull(),
  currency: text("currency").notNull(),
  status: text("status", { enum: ["held", "released", "voided"] }).notNull(),
  release_at: integer("release_at"),
  released_at: integer("released_at"),
  voided_at: integer("voided_at"),
  attempts: integer("attempts").notNull().default(0),
  next_attempt_at: integer("next_attempt_at"),
  ...timestamps,
});

export const appliedProjections = sqliteTable("applied_projections", {
  id: text("id").primaryKey(),
  applied_at: integer("applied_at").notNull(),
});

export const unprojectedCustomers = sqliteTable("unprojected_customers", {
  customer_id: text("customer_id").primaryKey(),
  since: integer("since").notNull(),
  last_error: text("last_error"),
  updated_at: integer("updated_at").notNull(),
});

export const reconciliationRuns = sqliteTable("reconciliation_runs", {
  id: text("id").primaryKey(),
  date: text("date").notNull(),
  trigger: text("trigger", { enum: ["cron", "operator"] }).notNull(),
  status: text("status", { enum: ["running", "completed", "failed"] }).notNull(),
  phase: text("phase", { enum: ["statement", "payments", "payouts", "done"] }).notNull(),
  cursor: text("cursor"),
  statement_lines: integer("statement_lines").notNull().default(0),
  matched: integer("matched").notNull().default(0),
  missing_in_ledger: integer("missing_in_ledger").notNull().default(0),
  missing_at_bank: integer("missing_at_bank").notNull().default(0),
  amount_mismatch: integer("amount_mismatch").notNull().default(0),
  steps: integer("steps").notNull().default(0),
  error: text("error"),
  ...timestamps,
  completed_at: integer("completed_at"),
});

export const reconciliationDiscrepancies = sqliteTable(
  "reconciliation_discrepancies",
  {
    id: text("id").primaryKey(),
    run_id: text("run_id").notNull(),
    kind: text("kind", { enum: ["missing_in_ledger", "missing_at_bank", "amount_mismatch"] }).notNull(),
    bank_transaction_id: text("bank_transaction_id").notNull(),
    direction: text("direction", { enum: ["credit", "debit"] }).notNull(),
    ledger_amount: integer("ledger_amount"),
    bank_amount: integer("bank_amount"),
    record_id: text("record_id"),
    resolution: text("resolution", { enum: ["recovered", "open", "resolved"] }).notNull(),
    detail: text("detail"),
    note: text("note"),
    resolved_at: integer("resolved_at"),
    created_at: integer("created_at").notNull(),
  },
  (table) => [unique().on(table.run_id, table.kind, table.bank_transaction_id)],
);

export const invariantSweeps = sqliteTable("invariant_sweeps", {
  name: text("name").primaryKey(),
  version: integer("version").notNull(),
  cursor: text("cursor"),
  started_at: integer("started_at"),
  checked: integer("checked").notNull().default(0),
  failures: text("failures").notNull().default("{}"),
  last_complete_started_at: integer("last_complete_started_at"),
  last_complete_at: integer("last_complete_at"),
  last_complete_checked: integer("last_complete_checked"),
  last_complete_failures: text("last_complete_failures"),
  updated_at: integer("updated_at").notNull(),
});

/** Tables whose only use is a trigger that refuses every insert, aborting a batch (migrations/0006, 0009). */
export const writeGuards = sqliteTable("write_guards", { reason: text("reason").notNull() });
export const overflowGuards = sqliteTable("overflow_guards", { reason: text("reason") });

export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    type: text("type", { enum: eventTypes }).notNull(),
    /** NULL: the platform's (the operator sees it; no merchant does; never delivered). */
    merchant_id: text("merchant_id"),
    object_type: text("object_type").notNull(),
    object_id: text("object_id").notNull(),
    /** JSON `{"object": …}`: the object as GET showed it when the event happened. */
    data: text("data").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (table) => [unique().on(table.type, table.object_id)],
);

export const webhookDeliveries = sqliteTable("webhook_deliveries", {
  event_id: text("event_id").primaryKey(),
  merchant_id: text("merchant_id").notNull(),
  status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
  attempts: integer("attempts").notNull().default(0),
  round_attempts: integer("round_attempts").notNull().default(0),
  next_attempt_at: integer("next_attempt_at"),
  dispatched_at: integer("dispatched_at"),
  last_attempt_at: integer("last_attempt_at"),
  last_status_code: integer("last_status_code"),
  last_error: text("last_error"),
  ...timestamps,
});

export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    event_id: text("event_id").notNull(),
    attempt: integer("attempt").notNull(),
    attempted_at: integer("attempted_at").notNull(),
    url: text("url").notNull(),
    status_code: integer("status_code"),
    error: text("error"),
    duration_ms: integer("duration_ms").notNull(),
  },
  (table) => [primaryKey({ columns: [table.event_id, table.attempt] })],
);

// API §11: virtual accounts and ledger linking (migrations/0011).

/** The CVU allocator: `seq` (AUTOINCREMENT, never reused) is the CVU's 12-digit account number. */
export const cvuAllocations = sqliteTable("cvu_allocations", {
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  virtual_account_id: text("virtual_account_id").notNull().unique(),
  allocated_at: integer("allocated_at").notNull(),
});

export const virtualAccounts = sqliteTable("virtual_accounts", {
  id: text("id").primaryKey(),
  account_number: text("account_number").notNull().unique(),
  kind: text("kind", { enum: ["per_customer", "per_transaction"] }).notNull(),
  /** As stored: `expired` is computed at read time; `registering` and `retired` are never shown. */
  status: text("status", { enum: ["registering", "active", "paid", "closed", "retired"] }).notNull(),
  merchant_id: text("merchant_id").notNull(),
  customer_id: text("customer_id").notNull(),
  currency: text("currency").notNull(),
  expected_amount: integer("expected_amount"),
  expires_at: integer("expires_at"),
  amount_policy: text("amount_policy", { enum: ["accept", "reject", "hold"] }),
  ledger_account_id: text("ledger_account_id"),
  description: text("description"),
  paid_by_payment_id: text("paid_by_payment_id").unique(),
  paid_amount: integer("paid_amount"),
  paid_at: integer("paid_at"),
  closed_at: integer("closed_at"),
  registered_at: integer("registered_at"),
  expired_event_at: integer("expired_event_at"),
  ...timestamps,
});

export const merchantLedgerAccounts = sqliteTable("merchant_ledger_accounts", {
  id: text("id").primaryKey(),
  merchant_id: text("merchant_id").notNull(),
  name: text("name").notNull(),
  description: text("description"),
  normal_balance: text("normal_balance", { enum: ["credit", "debit"] }).notNull(),
  currency: text("currency").notNull(),
  posted_debits: integer("posted_debits").notNull().default(0),
  posted_credits: integer("posted_credits").notNull().default(0),
  ...timestamps,
});

export const merchantLedgerTransactions = sqliteTable(
  "merchant_ledger_transactions",
  {
    id: text("id").primaryKey(),
    merchant_id: text("merchant_id").notNull(),
    description: text("description").notNull(),
    ledgerable_type: text("ledgerable_type").notNull(),
    ledgerable_id: text("ledgerable_id").notNull(),
    effective_at: integer("effective_at").notNull(),
    created_at: integer("created_at").notNull(),
  },
  (table) => [unique().on(table.ledgerable_type, table.ledgerable_id)],
);

export const merchantLedgerEntries = sqliteTable("merchant_ledger_entries", {
  id: text("id").primaryKey(),
  transaction_id: text("transaction_id").notNull(),
  ledger_account_id: text("ledger_account_id").notNull(),
  direction: text("direction", { enum: ["debit", "credit"] }).notNull(),
  amount: integer("amount").notNull(),
  created_at: integer("created_at").notNull(),
});

export const internalAccounts = sqliteTable(
  "internal_accounts",
  {
    id: text("id").primaryKey(),
    merchant_id: text("merchant_id").notNull(),
    currency: text("currency").notNull(),
    ledger_account_id: text("ledger_account_id"),
    ...timestamps,
  },
  (table) => [unique().on(table.merchant_id, table.currency)],
);

export const incomingPaymentDetails = sqliteTable(
  "incoming_payment_details",
  {
    id: text("id").primaryKey(),
    direction: text("direction", { enum: ["credit", "debit"] }).notNull(),
    merchant_id: text("merchant_id").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    virtual_account_id: text("virtual_account_id").notNull(),
    internal_account_id: text("internal_account_id").notNull(),
    payment_id: text("payment_id").notNull(),
    ledger_transaction_id: text("ledger_transaction_id"),
    created_at: integer("created_at").notNull(),
  },
  (table) => [unique().on(table.payment_id, table.direction)],
);

/** Commission (API §12): a merchant's cash-in price (migrations/0017). No row: no fee. */
export const merchantPricing = sqliteTable("merchant_pricing", {
  merchant_id: text("merchant_id").primaryKey(),
  cash_in_fee_bps: integer("cash_in_fee_bps").notNull(),
  cash_in_fee_fixed: integer("cash_in_fee_fixed").notNull().default(0),
  created_at: integer("created_at").notNull(),
  updated_at: integer("updated_at").notNull(),
});

export type VirtualAccountRow = typeof virtualAccounts.$inferSelect;
export type MerchantLedgerAccountRow = typeof merchantLedgerAccounts.$inferSelect;
export type InternalAccountRow = typeof internalAccounts.$inferSelect;
export type IncomingPaymentDetailRow = typeof incomingPaymentDetails.$inferSelect;

export type MerchantRow = typeof merchants.$inferSelect;
export type CustomerRow = typeof customers.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;
export type WebhookAttemptRow = typeof webhookAttempts.$inferSelect;

/** Internal transfers between balance accounts (API §12; migrations/0016). */
export const transfers = sqliteTable("transfers", {
  id: text("id").primaryKey(),
  kind: text("kind").notNull(),
  status: text("status", { enum: ["completed"] }).notNull(),
  from_balance_account: text("from_balance_account").notNull(),
  to_balance_account: text("to_balance_account").notNull(),
  from_owner_id: text("from_owner_id").notNull(),
  to_owner_id: text("to_owner_id").notNull(),
  amount: integer("amount").notNull(),
  currency: text("currency").notNull(),
  description: text("description"),
  initiated_by: text("initiated_by").notNull(),
  metadata: text("metadata").notNull().default("{}"),
  fingerprint: text("fingerprint").notNull(),
  created_at: integer("created_at").notNull(),
});
export type TransferRow = typeof transfers.$inferSelect;

/** Sweeps (API §12, migrations/0019): a daily rule on a source balance account. */
export const sweeps = sqliteTable("sweeps", {
  id: text("id").primaryKey(),
  balance_account_id: text("balance_account_id").notNull(),
  target_balance_account: text("target_balance_account").notNull(),
  owner_id: text("owner_id").notNull(),
  currency: text("currency").notNull(),
  sweep_type: text("sweep_type", { enum: ["push", "pull"] }).notNull(),
  schedule_type: text("schedule_type", { enum: ["daily"] }).notNull(),
  schedule_time: text("schedule_time").notNull(),
  schedule_minutes: integer("schedule_minutes").notNull(),
  trigger_type: text("trigger_type", { enum: ["balance_exceeds"] }).notNull(),
  trigger_amount: integer("trigger_amount").notNull(),
  status: text("status", { enum: ["active", "deleted"] }).notNull(),
  created_at: integer("created_at").notNull(),
  updated_at: integer("updated_at").notNull(),
  deleted_at: integer("deleted_at"),
});

/** One run of a sweep per Buenos Aires business day (migrations/0019). */
export const sweepRuns = sqliteTable(
  "sweep_runs",
  {
    id: text("id").primaryKey(),
    sweep_id: text("sweep_id").notNull(),
    business_day: text("business_day").notNull(),
    status: text("status", { enum: ["pending", "completed", "failed", "skipped"] }).notNull(),
    available_amount: integer("available_amount").notNull(),
    amount: integer("amount").notNull(),
    transfer_id: text("transfer_id"),
    failure_reason: text("failure_reason"),
    claimed_at: integer("claimed_at").notNull(),
    attempts: integer("attempts").notNull().default(1),
    created_at: integer("created_at").notNull(),
    updated_at: integer("updated_at").notNull(),
    finished_at: integer("finished_at"),
  },
  (table) => [unique().on(table.sweep_id, table.business_day)],
);

export type SweepRow = typeof sweeps.$inferSelect;
export type SweepRunRow = typeof sweepRuns.$inferSelect;

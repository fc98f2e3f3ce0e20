/**
 * Every bound the service enforces, in one place (TigerBeetle style: a limit on everything).
 * Units are last in the name.
 */
export const limits = {
  /** Largest request body accepted, before parsing. */
  request_body_bytes: 1024 * 1024,
  /** A valid amount is an integer in [amount_min, amount_max] minor units (API §1). */
  amount_min: 1,
  amount_max: 100_000_000_000_000,
  /** Reserve holds the cron releases per tick (one D1 batch each); the rest wait for the next tick. */
  reserve_releases_per_tick: 200,
  /** A release the reserve refused is retried after base × 2^(attempts − 1), at most the cap. */
  reserve_release_backoff_base_ms: 60_000,
  reserve_release_backoff_max_ms: 24 * 60 * 60 * 1000,
  /**
   * A held hold this long past its release date is red (reserve_holds_released_on_time): the
   * cron runs every 5 minutes, so a healthy hold goes back within minutes; a refused one is
   * retried at most a backoff cap (1 day) later. Past the cap plus an hour of ticks (12 ticks,
   * 2,400 releases of backlog), the reserve has refused it all day or the cron is not running.
   */
  reserve_hold_overdue_ms: 25 * 60 * 60 * 1000,
  /** A reserve policy's holding period (API §12). */
  holding_days_max: 3650,
  /** Page sizes for every list. */
  page_size_default: 20,
  page_size_max: 100,
  /** Idempotency keys: length, how long a first request holds the key, how long keys live. */
  idempotency_key_length_max: 255,
  idempotency_lock_ms: 60_000,
  idempotency_retention_ms: 48 * 60 * 60 * 1000,
  /** Stored idempotent responses larger than this are not replayable (nothing we send is). */
  idempotency_response_bytes: 256 * 1024,
  /** Free text. */
  name_length_max: 200,
  description_length_max: 140,
  concepto_length_max: 1000,
  webhook_url_length_max: 2048,
  /** Webhook secrets stored in clear (before sealing) that one cron run seals (src/jobs/seal-webhook-secrets.ts). */
  legacy_webhook_secrets_per_run: 100,
  /** Bank webhook signatures: tolerated clock skew, and how many v1 values we try. */
  bank_signature_tolerance_seconds: 300,
  bank_signature_values_max: 8,
  /**
   * Merchant API keys cached per isolate (src/middleware/api-key-cache.ts): a key read from
   * D1 is trusted this long without reading it again, so a revoked key keeps working for at
   * most this long in an isolate that read it before the revocation (at once elsewhere). A key
   * not found is never cached: a new key works at once. At most this many keys per isolate.
   */
  api_key_cache_ms: 5_000,
  api_key_cache_entries: 10_000,
  /**
   * Commission pricing cached per isolate (src/commission/pricing-cache.ts): a cash-in reads
   * its merchant's price from memory for at most this long after the D1 read, so a pricing
   * change applies to cash-ins received from at most this long later (at once in the isolate
   * that served the change). "No price" is cached too: most merchants have none.
   */
  pricing_cache_ms: 5_000,
  pricing_cache_entries: 10_000,
  /** The largest fixed fee per cash-in (minor units): 10^12, ten billion pesos. */
  cash_in_fee_fixed_max: 1_000_000_000_000,
  /**
   * Customer↔merchant links cached per isolate (src/db/customers.ts): a link is never removed
   * and its reference, and its customer's CUIT, name and CBU, never change; only "has
   * transacted" is cached, and only once true (it never goes back). Entries.
   */
  link_cache_entries: 10_000,
  /** Senders proven to hold an account (a payment came from it with their CUIT; never undone): entries. */
  own_account_cache_entries: 10_000,
  /** Issued references cached per isolate (they never change): entries. */
  reference_cache_entries: 10_000,
  /** Attempts to mint a unique reference before giving up (collisions are ~1 in 10^10). */
  reference_mint_attempts: 5,
  /**
   * Outbound webhooks (src/webhooks/, docs/WEBHOOKS.md): each merchant has at most this many
   * deliveries in the queue at once (retries included), so a receiver that is down holds only
   * its own slots while its other deliveries wait in D1.
   */
  webhook_in_flight_per_merchant: 10,
  /** Deliveries one dispatch claims and queues at most. */
  webhook_dispatch_batch_max: 500,
  /**
   * A receiver must answer 2xx within this to acknowledge (API §14). A consumer batch's
   * attempts run concurrently (wrangler.toml max_batch_size), so a batch lasts about this long
   * at most, whatever its receivers do.
   */
  webhook_timeout_ms: 10_000,
  /**
   * Attempts per round before a delivery is failed (src/webhooks/schedule.ts): retry n waits
   * base·2^(n−1), capped at base·360, times a jitter in [1, 1.25). At the production base of
   * 60 000 ms, 21 attempts span at least 4 471 minutes (74.5 h, over the 3 days of API §14);
   * a unit test proves it.
   */
  webhook_attempts_max: 21,
  /** The longest retry wait, in multiples of the base (6 h at a 60 s base). */
  webhook_retry_cap_factor: 360,
  /**
   * A claimed delivery whose attempt is overdue by more than this lost its queue message (a
   * crash between claim and send, a lost message): the cron sends it again. A duplicate
   * message is harmless (the attempt's compare-and-set), so this only trades latency.
   */
  webhook_lease_ms: 15 * 60_000,
  /**
   * Deliveries a merchant may have waiting for a slot (a receiver down for days while events
   * keep coming): the cron fails the newest beyond it with last_error "backlog_full" (still
   * listable through the events API and redeliverable), so retries never grow without bound.
   */
  webhook_backlog_per_merchant: 10_000,
  /** Deliveries the cron fails for a full backlog, and overdue ones it sends again, per pass at most. */
  webhook_backstop_rows_max: 10_000,
  /** The sandbox bank's fault injection: at most this many upcoming failures per kind. */
  sandbox_faults_max: 1000,
} as const;

/** Money-core bounds. */
export const accountLimits = {
  /** How long a customer's object waits before replaying projections D1 has not confirmed. */
  projection_grace_ms: 10_000,
  /** Batches of outbox rows (up to d1_parameters_max each) one alarm checks; the rest go to the next alarm, at once. */
  projection_replay_batches: 10,
  /** A failing alarm retries after grace × 2^failures, at most this long (it never stops). */
  alarm_backoff_max_ms: 5 * 60_000,
  /** D1 allows 100 bound parameters per statement: stay under it in IN (...) lists. */
  d1_parameters_max: 90,
  /** Cash-ins written to D1 in one group commit (one batch), at most (src/accounts/group-commit.ts). */
  group_commit_operations_max: 100,
  /**
   * How long the first cash-in of a group waits for others before the group is written (when
   * fewer than group_commit_operations_max arrive sooner). D1 trails a cash-in's 200 by about
   * this plus one batch: the payments list and the merchant balance (documented in the API).
   * 200 ms gathers ~20 cash-ins per D1 write at ~100 cash-ins/s per isolate (docs/PERFORMANCE.md);
   * a busier isolate fills groups of 100 sooner.
   */
  group_commit_window_ms: 200,
  /** A group's write is given up after this (under waitUntil's 30 s), so its bookkeeping always runs. */
  group_commit_write_deadline_ms: 25_000,
  /** Cash-ins waiting for a group, per isolate; past it a cash-in writes its own projection before answering (back-pressure). */
  group_commit_buffer_max: 1_000,
  /** Entries one page of a customer's history returns at most. */
  entries_page_max: 100,
} as const;

/**
 * Reconciliation works a step at a time so that a day of any size fits Workers' limits (one
 * step per invocation: a queue message or a cron tick; D1 allows 100 bound parameters per
 * statement and a bounded number of queries per invocation).
 */
export const reconciliationLimits = {
  /** Statement lines read per step. */
  statement_page_lines: 1_000,
  /** Lost webhooks recovered per step (each runs the full cash-in or payout path). */
  recoveries_per_step: 20,
  /** Ledger records checked against the statement per step (ledger → bank direction). */
  ledger_page_rows: 500,
  /** Ledger records of the day one step reads to find those (index order, whatever their mark). */
  ledger_window_rows: 10_000,
  /** Hard ceiling on D1 queries one step may make: asserted, never silently exceeded. */
  d1_queries_per_step: 400,
  /** A running run untouched this long lost its queue message: the cron resumes it. */
  stale_run_ms: 2 * 60_000,
  /**
   * A statement line D1 lacks but whose customer's object already has it counts as in flight to
   * D1 (matched) only if booked this recently; older, its projection was stuck: a discrepancy.
   */
  in_flight_max_ms: 10 * 60_000,
  /** Discrepancies embedded in GET /v1/admin/reconciliations/{id}; the rest are paged. */
  discrepancies_embedded_max: 1000,
} as const;

/**
 * GET /v1/admin/invariants sweeps the books a window per call (src/ledger/sweeps/): what one
 * call checks is bounded, whatever the size of the books, and the coverage it reports says
 * how far the pass has got. D1 allows 1,000 queries per invocation and 30 s per query.
 */
export const invariantLimits = {
  /** Customers per call: one Durable Object call each (a subrequest), one D1 query per window. */
  customers_per_call: 200,
  /** Customer objects called at once. */
  object_calls_in_flight: 10,
  /** Ledger transactions per call: one query reads them with their entries. */
  transactions_per_call: 500,
  /** Payments per call: a handful of range queries over their ledger transactions. */
  payments_per_call: 500,
  /** Payouts per call: two range queries. */
  payouts_per_call: 500,
  /** Ledger accounts per call: one query each (the SUM of that account's entries). */
  accounts_per_call: 200,
  /** Merchant-ledger transactions per call (API §11): one query reads them with their entries and details. */
  merchant_ledger_transactions_per_call: 500,
  /** Merchant-ledger accounts per call: one query sums their entries. */
  merchant_ledger_accounts_per_call: 200,
  /** Transfers per call (API §12): two range queries. */
  transfers_per_call: 500,
  /** Incoming payment details per call: one query reads them with their payments and transactions. */
  incoming_payment_details_per_call: 500,
  /** Rows after a sweep's cursor counted to report the pass's total: a bounded count, past which the total is a lower bound. */
  remaining_count_max: 100_000,
  /** Failures remembered per check and pass (the count is exact; these are the sample shown). */
  failure_sample_max: 5,
  /** Hard ceiling on D1 queries one call may make: asserted, never silently exceeded. */
  d1_queries_per_call: 400,
} as const;

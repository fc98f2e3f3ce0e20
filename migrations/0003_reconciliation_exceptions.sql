-- Reconciliation and exception handling (API §9 and the operator side of §5).
-- payments and payouts are rebuilt (SQLite cannot alter a CHECK or a NOT NULL):
--   payments: the business day a transfer was booked on (reconciliation reads a day at a time),
--     the last reconciliation run that saw it on the bank's statement, its reversal, and a
--     'returned' status for quarantined money sent back to its sender.
--   payouts: a kind ('payout' from a customer's balance, 'return' of quarantined money), the
--     payment a return gives back, the business day the bank completed it, and the last run
--     that saw it on the statement.

CREATE TABLE payments_next (
  id                         TEXT PRIMARY KEY,
  bank_transaction_id        TEXT NOT NULL UNIQUE,
  status                     TEXT NOT NULL CHECK (status IN ('credited', 'quarantined', 'reversed', 'returned')),
  amount                     INTEGER NOT NULL CHECK (amount > 0),
  currency                   TEXT NOT NULL,
  customer_id                TEXT,
  merchant_id                TEXT,
  sender_cuit                TEXT,
  sender_name                TEXT,
  sender_cbu                 TEXT,
  concepto                   TEXT,
  destination_account_number TEXT,
  matched_by                 TEXT CHECK (matched_by IN ('virtual_account', 'customer_reference', 'merchant_reference', 'manual')),
  booked_at                  INTEGER NOT NULL,
  booked_date                TEXT NOT NULL,
  reversal_id                TEXT UNIQUE,
  reconciled_by              TEXT,
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL
);
INSERT INTO payments_next (id, bank_transaction_id, status, amount, currency, customer_id, merchant_id, sender_cuit, sender_name,
  sender_cbu, concepto, destination_account_number, matched_by, booked_at, booked_date, created_at, updated_at)
SELECT id, bank_transaction_id, status, amount, currency, customer_id, merchant_id, sender_cuit, sender_name,
  sender_cbu, concepto, destination_account_number, matched_by, booked_at,
  -- Buenos Aires is UTC-3 all year (no daylight saving since 2009).
  strftime('%Y-%m-%d', booked_at / 1000 - 3 * 3600, 'unixepoch'), created_at, updated_at
FROM payments;
DROP TABLE payments;
ALTER TABLE payments_next RENAME TO payments;
CREATE INDEX payments_by_merchant ON payments(merchant_id, created_at, id);
CREATE INDEX payments_by_customer ON payments(customer_id, merchant_id, created_at, id);
CREATE INDEX payments_by_status ON payments(status, created_at, id);
CREATE INDEX payments_by_booked_date ON payments(booked_date, id);

CREATE TABLE payouts_next (
  id                  TEXT PRIMARY KEY,
  kind                TEXT NOT NULL DEFAULT 'payout' CHECK (kind IN ('payout', 'return')),
  merchant_id         TEXT,
  customer_id         TEXT,
  payment_id          TEXT,                   -- for a return: the quarantined payment it sends back
  amount              INTEGER NOT NULL CHECK (amount > 0),
  currency            TEXT NOT NULL,
  destination_cbu     TEXT NOT NULL,
  description         TEXT,
  status              TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'canceled', 'rejected')),
  failure_reason      TEXT,
  bank_transaction_id TEXT UNIQUE,
  submit_attempts     INTEGER NOT NULL DEFAULT 0,
  submitted_at        INTEGER,
  customer_sync       TEXT CHECK (customer_sync IN ('settle', 'release')),
  completed_date      TEXT,
  reconciled_by       TEXT,
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL,
  CHECK (kind = 'return' OR (merchant_id IS NOT NULL AND customer_id IS NOT NULL)),
  CHECK (kind = 'payout' OR payment_id IS NOT NULL)
);
INSERT INTO payouts_next (id, kind, merchant_id, customer_id, amount, currency, destination_cbu, description, status, failure_reason,
  bank_transaction_id, submit_attempts, submitted_at, customer_sync, completed_date, created_at, updated_at)
SELECT id, 'payout', merchant_id, customer_id, amount, currency, destination_cbu, description, status, failure_reason,
  bank_transaction_id, submit_attempts, submitted_at, customer_sync,
  CASE WHEN status = 'completed' THEN strftime('%Y-%m-%d', updated_at / 1000 - 3 * 3600, 'unixepoch') END, created_at, updated_at
FROM payouts;
DROP TABLE payouts;
ALTER TABLE payouts_next RENAME TO payouts;
CREATE INDEX payouts_by_merchant ON payouts(merchant_id, created_at, id);
CREATE INDEX payouts_by_customer ON payouts(customer_id, merchant_id, created_at, id);
CREATE INDEX payouts_by_status ON payouts(status, updated_at);
CREATE INDEX payouts_needing_sync ON payouts(customer_sync, updated_at) WHERE customer_sync IS NOT NULL;
CREATE INDEX payouts_by_completed_date ON payouts(completed_date, id) WHERE completed_date IS NOT NULL;
CREATE UNIQUE INDEX payouts_one_live_return ON payouts(payment_id) WHERE kind = 'return' AND status NOT IN ('failed', 'canceled', 'rejected');

-- Reconciliation runs: one per request (operator) or per business day (cron). The statement is
-- read a page at a time; `cursor` is where the next page starts, so a run resumes where it
-- stopped. phase: 'statement' (bank → ledger), then 'ledger' (ledger → bank), then done.
CREATE TABLE reconciliation_runs (
  id                TEXT PRIMARY KEY,
  date              TEXT NOT NULL,
  trigger           TEXT NOT NULL CHECK (trigger IN ('cron', 'operator')),
  status            TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  phase             TEXT NOT NULL CHECK (phase IN ('statement', 'payments', 'payouts', 'done')),
  cursor            TEXT,
  statement_lines   INTEGER NOT NULL DEFAULT 0,
  matched           INTEGER NOT NULL DEFAULT 0,
  missing_in_ledger INTEGER NOT NULL DEFAULT 0,
  missing_at_bank   INTEGER NOT NULL DEFAULT 0,
  amount_mismatch   INTEGER NOT NULL DEFAULT 0,
  steps             INTEGER NOT NULL DEFAULT 0,
  error             TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  completed_at      INTEGER
);
CREATE INDEX reconciliation_runs_by_date ON reconciliation_runs(date, created_at);
CREATE INDEX reconciliation_runs_by_status ON reconciliation_runs(status, updated_at);
CREATE UNIQUE INDEX reconciliation_one_cron_run_per_day ON reconciliation_runs(date) WHERE trigger = 'cron';

CREATE TABLE reconciliation_discrepancies (
  id                  TEXT PRIMARY KEY,
  run_id              TEXT NOT NULL REFERENCES reconciliation_runs(id),
  kind                TEXT NOT NULL CHECK (kind IN ('missing_in_ledger', 'missing_at_bank', 'amount_mismatch')),
  bank_transaction_id TEXT NOT NULL,
  direction           TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
  ledger_amount       INTEGER,
  bank_amount         INTEGER,
  record_id           TEXT,                 -- the payment or payout involved, if any
  resolution          TEXT NOT NULL CHECK (resolution IN ('recovered', 'open', 'resolved')),
  detail              TEXT,
  note                TEXT,
  resolved_at         INTEGER,
  created_at          INTEGER NOT NULL,
  UNIQUE (run_id, kind, bank_transaction_id)
);
CREATE INDEX reconciliation_discrepancies_by_run ON reconciliation_discrepancies(run_id, created_at, id);

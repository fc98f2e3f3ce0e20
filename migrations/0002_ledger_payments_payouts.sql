-- The money core's D1 side: the double-entry ledger, payments (cash-ins), payouts, the bank
-- events we received, and the record of projections applied from customer Durable Objects.

-- Ledger accounts. Balances are cached on the account by the triggers below, from the
-- entries, and the invariants endpoint checks that cache against the entries.
--   posted_*  : entries of posted transactions
--   pending_* : entries of pending transactions (not yet posted, not archived)
-- For a credit-normal account: posted = posted_credits - posted_debits,
-- available = posted - pending_debits (a reservation lowers it at once), and
-- pending = posted + pending_credits - pending_debits.
CREATE TABLE ledger_accounts (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (kind IN ('settlement', 'suspense', 'attribution', 'customer', 'merchant', 'merchant_unassigned')),
  owner_id        TEXT NOT NULL,            -- 'platform', a merchant id or a customer id
  name            TEXT NOT NULL,
  normal_balance  TEXT NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
  currency        TEXT NOT NULL,
  ledgerable_type TEXT,
  ledgerable_id   TEXT,
  -- 1: a debit may not take `available` below zero (merchant balances: D1 is their guard).
  no_overdraft    INTEGER NOT NULL DEFAULT 0 CHECK (no_overdraft IN (0, 1)),
  posted_debits   INTEGER NOT NULL DEFAULT 0,
  posted_credits  INTEGER NOT NULL DEFAULT 0,
  pending_debits  INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
  pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (kind, owner_id, currency)
);
CREATE INDEX ledger_accounts_by_created ON ledger_accounts(created_at, id);

CREATE TABLE ledger_transactions (
  id              TEXT PRIMARY KEY,
  status          TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'archived')),
  description     TEXT NOT NULL,
  ledgerable_type TEXT,
  ledgerable_id   TEXT,
  effective_at    INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX ledger_transactions_by_ledgerable ON ledger_transactions(ledgerable_type, ledgerable_id);

CREATE TABLE ledger_entries (
  id                TEXT PRIMARY KEY,       -- '<transaction id>:<n>': deterministic, so posting twice is a no-op
  transaction_id    TEXT NOT NULL REFERENCES ledger_transactions(id),
  ledger_account_id TEXT NOT NULL REFERENCES ledger_accounts(id),
  direction         TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
  amount            INTEGER NOT NULL CHECK (amount > 0 AND amount <= 100000000000000),
  status            TEXT NOT NULL CHECK (status IN ('pending', 'posted', 'archived')),
  may_overdraw      INTEGER NOT NULL DEFAULT 0 CHECK (may_overdraw IN (0, 1)),
  created_at        INTEGER NOT NULL
);
CREATE INDEX ledger_entries_by_account ON ledger_entries(ledger_account_id, created_at, id);
CREATE INDEX ledger_entries_by_transaction ON ledger_entries(transaction_id);

-- Applying an entry moves its account's cached balance, then refuses an overdraft where
-- the account forbids one. RAISE(ABORT) fails the statement, and D1 rolls back its batch:
-- a payout's merchant reservation and its payout row commit together or not at all.
CREATE TRIGGER ledger_entry_applied AFTER INSERT ON ledger_entries
BEGIN
  UPDATE ledger_accounts SET
    posted_debits   = posted_debits   + (CASE WHEN NEW.status = 'posted'  AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    posted_credits  = posted_credits  + (CASE WHEN NEW.status = 'posted'  AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    pending_debits  = pending_debits  + (CASE WHEN NEW.status = 'pending' AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    pending_credits = pending_credits + (CASE WHEN NEW.status = 'pending' AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    updated_at      = NEW.created_at
  WHERE id = NEW.ledger_account_id;
  SELECT RAISE(ABORT, 'insufficient_funds') FROM ledger_accounts
  WHERE id = NEW.ledger_account_id AND no_overdraft = 1 AND NEW.direction = 'debit' AND NEW.may_overdraw = 0
    AND normal_balance = 'credit' AND posted_credits - posted_debits - pending_debits < 0;
END;

-- A pending entry is posted or archived exactly once; its amount leaves the pending column.
CREATE TRIGGER ledger_entry_settled AFTER UPDATE OF status ON ledger_entries
WHEN OLD.status = 'pending' AND NEW.status IN ('posted', 'archived')
BEGIN
  UPDATE ledger_accounts SET
    pending_debits  = pending_debits  - (CASE WHEN NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    pending_credits = pending_credits - (CASE WHEN NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    posted_debits   = posted_debits   + (CASE WHEN NEW.status = 'posted' AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    posted_credits  = posted_credits  + (CASE WHEN NEW.status = 'posted' AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END)
  WHERE id = NEW.ledger_account_id;
END;

-- Entries are append-only: the only change allowed is pending → posted | archived.
CREATE TRIGGER ledger_entry_immutable BEFORE UPDATE ON ledger_entries
WHEN NOT (OLD.status = 'pending' AND NEW.status IN ('posted', 'archived')
          AND NEW.amount = OLD.amount AND NEW.direction = OLD.direction
          AND NEW.ledger_account_id = OLD.ledger_account_id AND NEW.transaction_id = OLD.transaction_id)
BEGIN
  SELECT RAISE(ABORT, 'ledger entries are immutable');
END;

CREATE TRIGGER ledger_entry_undeletable BEFORE DELETE ON ledger_entries
BEGIN
  SELECT RAISE(ABORT, 'ledger entries are immutable');
END;

-- A transaction's status carries its entries with it.
CREATE TRIGGER ledger_transaction_settled AFTER UPDATE OF status ON ledger_transactions
WHEN OLD.status = 'pending' AND NEW.status IN ('posted', 'archived')
BEGIN
  UPDATE ledger_entries SET status = NEW.status WHERE transaction_id = NEW.id AND status = 'pending';
END;

CREATE TRIGGER ledger_transaction_final BEFORE UPDATE OF status ON ledger_transactions
WHEN OLD.status <> 'pending' AND NEW.status <> OLD.status
BEGIN
  SELECT RAISE(ABORT, 'a posted or archived ledger transaction is final');
END;

-- The platform's own accounts, in ARS.
INSERT INTO ledger_accounts (id, kind, owner_id, name, normal_balance, currency, ledgerable_type, ledgerable_id, created_at, updated_at) VALUES
  ('la_settlement_ars',  'settlement',  'platform', 'Settlement bank account (ARS)',           'debit',  'ARS', 'internal_account', 'settlement', 0, 0),
  ('la_suspense_ars',    'suspense',    'platform', 'Suspense: unmatched cash-ins (ARS)',       'credit', 'ARS', NULL, NULL, 0, 0),
  ('la_attribution_ars', 'attribution', 'platform', 'Merchant attribution, memo contra (ARS)',  'debit',  'ARS', NULL, NULL, 0, 0);

-- Every bank event we accepted (signature verified), with its raw body, whatever became of it.
CREATE TABLE bank_events (
  id          TEXT PRIMARY KEY,
  type        TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('processed', 'failed')),
  payload     TEXT NOT NULL,
  error       TEXT,
  attempts    INTEGER NOT NULL DEFAULT 1,
  received_at INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX bank_events_by_status ON bank_events(status, received_at);

-- Cash-ins. The id is derived from bank_transaction_id: one bank transfer, one payment.
CREATE TABLE payments (
  id                         TEXT PRIMARY KEY,
  bank_transaction_id        TEXT NOT NULL UNIQUE,
  status                     TEXT NOT NULL CHECK (status IN ('credited', 'quarantined', 'reversed')),
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
  created_at                 INTEGER NOT NULL,
  updated_at                 INTEGER NOT NULL
);
CREATE INDEX payments_by_merchant ON payments(merchant_id, created_at, id);
CREATE INDEX payments_by_customer ON payments(customer_id, merchant_id, created_at, id);
CREATE INDEX payments_by_status ON payments(status, created_at, id);

CREATE TABLE payouts (
  id                  TEXT PRIMARY KEY,
  merchant_id         TEXT NOT NULL,
  customer_id         TEXT NOT NULL,
  amount              INTEGER NOT NULL CHECK (amount > 0),
  currency            TEXT NOT NULL,
  destination_cbu     TEXT NOT NULL,
  description         TEXT,
  -- 'rejected': the merchant could not cover it after the customer reserved; never shown.
  status              TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'canceled', 'rejected')),
  failure_reason      TEXT,
  bank_transaction_id TEXT UNIQUE,
  submit_attempts     INTEGER NOT NULL DEFAULT 0,
  submitted_at        INTEGER,                -- the bank accepted the submission
  -- Saga marker: D1 has settled the payout ('settle') or returned its funds ('release') and
  -- the customer's Durable Object has not yet been told. Cleared once it has; the repair
  -- job finishes any left behind.
  customer_sync       TEXT CHECK (customer_sync IN ('settle', 'release')),
  created_at          INTEGER NOT NULL,
  updated_at          INTEGER NOT NULL
);
CREATE INDEX payouts_by_merchant ON payouts(merchant_id, created_at, id);
CREATE INDEX payouts_by_customer ON payouts(customer_id, merchant_id, created_at, id);
CREATE INDEX payouts_by_status ON payouts(status, updated_at);
CREATE INDEX payouts_needing_sync ON payouts(customer_sync, updated_at) WHERE customer_sync IS NOT NULL;

-- Projections from customer Durable Objects that D1 has applied (by operation id). The
-- object's alarm reads this to learn which of its outbox rows are done.
CREATE TABLE applied_projections (
  id         TEXT PRIMARY KEY,
  applied_at INTEGER NOT NULL
);
CREATE INDEX applied_projections_by_age ON applied_projections(applied_at);

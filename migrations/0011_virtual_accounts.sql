-- Virtual account numbers (CVU) and ledger linking (API §11): the shared tables. Triggers and
-- views that belong to one part (routing, provisioning, auto-ledgering) come in their own
-- migrations after this one.

-- The CVU allocator. SQLite's AUTOINCREMENT hands out strictly increasing numbers and never
-- reuses one, not even after the row is deleted (sqlite_sequence keeps the high-water mark),
-- and two concurrent inserts can never receive the same one: the 12-digit account number of a
-- CVU is this `seq`. One row per virtual account, written before the bank is asked, kept
-- forever (a retired half-made account keeps its number out of circulation).
CREATE TABLE cvu_allocations (
  seq                INTEGER PRIMARY KEY AUTOINCREMENT,
  virtual_account_id TEXT NOT NULL UNIQUE,
  allocated_at       INTEGER NOT NULL
);

-- A virtual account. `status` as stored:
--   registering: allocated, the bank not yet confirmed; never routes, lists or reads as an account
--   active | paid | closed: as the API shows them (`expired` is computed at read time:
--     active, per_transaction, expires_at <= now)
--   retired: a registration the repair cron gave up on; never shown, its number never reused
CREATE TABLE virtual_accounts (
  id                 TEXT PRIMARY KEY,
  account_number     TEXT NOT NULL UNIQUE,
  kind               TEXT NOT NULL CHECK (kind IN ('per_customer', 'per_transaction')),
  status             TEXT NOT NULL CHECK (status IN ('registering', 'active', 'paid', 'closed', 'retired')),
  merchant_id        TEXT NOT NULL REFERENCES merchants(id),
  customer_id        TEXT NOT NULL REFERENCES customers(id),
  currency           TEXT NOT NULL,
  expected_amount    INTEGER CHECK (expected_amount IS NULL OR expected_amount > 0),
  expires_at         INTEGER,
  amount_policy      TEXT CHECK (amount_policy IS NULL OR amount_policy IN ('accept', 'reject', 'hold')),
  -- An account of the merchant's own ledger (merchant_ledger_accounts), or NULL.
  ledger_account_id  TEXT,
  description        TEXT,
  -- The payment that paid a per_transaction account, and its amount: a redelivery of that same
  -- bank transfer recognises itself; another amount for it is exists_with_different_data.
  paid_by_payment_id TEXT UNIQUE,
  paid_amount        INTEGER,
  paid_at            INTEGER,
  closed_at          INTEGER,
  registered_at      INTEGER,
  -- When `virtual_account.expired` was emitted (once).
  expired_event_at   INTEGER,
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL
);
-- per_customer is one per (customer, merchant), whatever its status but retired.
CREATE UNIQUE INDEX virtual_accounts_one_per_customer ON virtual_accounts(customer_id, merchant_id) WHERE kind = 'per_customer' AND status <> 'retired';
CREATE INDEX virtual_accounts_by_merchant ON virtual_accounts(merchant_id, created_at, id);
CREATE INDEX virtual_accounts_registering ON virtual_accounts(status, created_at) WHERE status = 'registering';
CREATE INDEX virtual_accounts_expiring ON virtual_accounts(expires_at) WHERE kind = 'per_transaction' AND status = 'active' AND expired_event_at IS NULL;

-- What routing rule 1 adds to a payment (API §5, §11).
ALTER TABLE payments ADD COLUMN virtual_account_id TEXT;
ALTER TABLE payments ADD COLUMN quarantine_reason TEXT;
CREATE INDEX payments_by_virtual_account ON payments(virtual_account_id, created_at, id) WHERE virtual_account_id IS NOT NULL;

-- Each merchant's own ledger (Modern Treasury's model), apart from the platform's books:
-- accounts the merchant creates, and the transactions auto-ledgering posts in it. Balances
-- are cached on the account from the entries, as in the platform's ledger.
CREATE TABLE merchant_ledger_accounts (
  id              TEXT PRIMARY KEY,
  merchant_id     TEXT NOT NULL REFERENCES merchants(id),
  name            TEXT NOT NULL,
  description     TEXT,
  normal_balance  TEXT NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
  currency        TEXT NOT NULL,
  posted_debits   INTEGER NOT NULL DEFAULT 0,
  posted_credits  INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX merchant_ledger_accounts_by_merchant ON merchant_ledger_accounts(merchant_id, created_at, id);

CREATE TABLE merchant_ledger_transactions (
  id              TEXT PRIMARY KEY,
  merchant_id     TEXT NOT NULL REFERENCES merchants(id),
  description     TEXT NOT NULL,
  ledgerable_type TEXT NOT NULL,
  ledgerable_id   TEXT NOT NULL,
  effective_at    INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  -- Exactly once per thing it ledgers (an incoming payment detail).
  UNIQUE (ledgerable_type, ledgerable_id)
);
CREATE INDEX merchant_ledger_transactions_by_merchant ON merchant_ledger_transactions(merchant_id, created_at, id);

CREATE TABLE merchant_ledger_entries (
  id                TEXT PRIMARY KEY,       -- '<transaction id>:<n>'
  transaction_id    TEXT NOT NULL REFERENCES merchant_ledger_transactions(id),
  ledger_account_id TEXT NOT NULL REFERENCES merchant_ledger_accounts(id),
  direction         TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
  amount            INTEGER NOT NULL CHECK (amount > 0 AND amount <= 100000000000000),
  created_at        INTEGER NOT NULL
);
CREATE INDEX merchant_ledger_entries_by_account ON merchant_ledger_entries(ledger_account_id, created_at, id);
CREATE INDEX merchant_ledger_entries_by_transaction ON merchant_ledger_entries(transaction_id);

-- The settlement account as one merchant sees it, per currency: `ia_…`, linkable to an account
-- of the merchant's ledger. Opened when first listed.
CREATE TABLE internal_accounts (
  id                TEXT PRIMARY KEY,
  merchant_id       TEXT NOT NULL REFERENCES merchants(id),
  currency          TEXT NOT NULL,
  ledger_account_id TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  UNIQUE (merchant_id, currency)
);

-- Money that arrived at a virtual account (credit), and a bank reversal of it (debit). One per
-- (payment, direction), whatever the redeliveries.
CREATE TABLE incoming_payment_details (
  id                    TEXT PRIMARY KEY,
  direction             TEXT NOT NULL CHECK (direction IN ('credit', 'debit')),
  merchant_id           TEXT NOT NULL,
  amount                INTEGER NOT NULL CHECK (amount > 0),
  currency              TEXT NOT NULL,
  virtual_account_id    TEXT NOT NULL,
  internal_account_id   TEXT NOT NULL,
  payment_id            TEXT NOT NULL,
  ledger_transaction_id TEXT,
  created_at            INTEGER NOT NULL,
  UNIQUE (payment_id, direction)
);
CREATE INDEX incoming_payment_details_by_virtual_account ON incoming_payment_details(virtual_account_id, created_at, id);
CREATE INDEX incoming_payment_details_by_merchant ON incoming_payment_details(merchant_id, created_at, id);

-- Reserve policies and merchant payouts (API §12, docs/MONEY.md "Reserves and merchant payouts").
--
-- A merchant payout sends the merchant's own money (its balance account `la_m…`) to its
-- payout_cbu through the same queue, bank and lifecycle as a customer's payout, minus what its
-- reserve policy withholds into its reserve (`la_r…`). It touches no customer: payouts is
-- rebuilt (SQLite cannot alter a CHECK) with a third kind, 'merchant_payout', whose
-- customer_id, payment_id and customer_sync are always NULL, and `withheld_amount` (0 for the
-- other kinds). The bank is sent amount − withheld_amount.

-- The view and the trigger of migrations/0010 name payouts: the rename refuses a schema that
-- refers to a missing table, so they are dropped first and recreated after.
DROP TRIGGER payout_event_on_status;
DROP VIEW payout_objects;

CREATE TABLE payouts_rebuilt (
  id                  TEXT PRIMARY KEY,
  kind                TEXT NOT NULL DEFAULT 'payout' CHECK (kind IN ('payout', 'return', 'merchant_payout')),
  merchant_id         TEXT,
  customer_id         TEXT,
  payment_id          TEXT,
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
  fingerprint         TEXT,
  -- A merchant payout: what its reserve policy withheld into the reserve (posted at creation),
  -- and which policy that was (NULL: none). The bank is sent amount − withheld_amount.
  withheld_amount     INTEGER NOT NULL DEFAULT 0,
  reserve_policy_id   TEXT,
  CHECK (kind <> 'payout' OR (merchant_id IS NOT NULL AND customer_id IS NOT NULL)),
  CHECK (kind <> 'return' OR payment_id IS NOT NULL),
  CHECK (kind <> 'merchant_payout' OR (merchant_id IS NOT NULL AND customer_id IS NULL AND payment_id IS NULL AND customer_sync IS NULL)),
  CHECK (withheld_amount >= 0 AND withheld_amount <= amount AND (kind = 'merchant_payout' OR withheld_amount = 0))
);
INSERT INTO payouts_rebuilt (id, kind, merchant_id, customer_id, payment_id, amount, currency, destination_cbu, description, status,
  failure_reason, bank_transaction_id, submit_attempts, submitted_at, customer_sync, completed_date, reconciled_by, created_at, updated_at, fingerprint)
SELECT id, kind, merchant_id, customer_id, payment_id, amount, currency, destination_cbu, description, status,
  failure_reason, bank_transaction_id, submit_attempts, submitted_at, customer_sync, completed_date, reconciled_by, created_at, updated_at, fingerprint
FROM payouts;
DROP TABLE payouts;
ALTER TABLE payouts_rebuilt RENAME TO payouts;
CREATE INDEX payouts_by_merchant ON payouts(merchant_id, created_at, id);
CREATE INDEX payouts_by_customer ON payouts(customer_id, merchant_id, created_at, id);
CREATE INDEX payouts_by_status ON payouts(status, updated_at);
CREATE INDEX payouts_needing_sync ON payouts(customer_sync, updated_at) WHERE customer_sync IS NOT NULL;
CREATE INDEX payouts_by_completed_date ON payouts(completed_date, id) WHERE completed_date IS NOT NULL;
CREATE UNIQUE INDEX payouts_one_live_return ON payouts(payment_id) WHERE kind = 'return' AND status NOT IN ('failed', 'canceled', 'rejected');

-- The payout as GET shows it (src/payouts/payout-row.ts payoutView; a test keeps them equal):
-- 0010's object plus withheld_amount and net_amount; customer_id is null for a merchant payout.
CREATE VIEW payout_objects AS
SELECT id, json_object(
  'id', id,
  'object', 'payout',
  'status', status,
  'amount', amount,
  'withheld_amount', withheld_amount,
  'net_amount', amount - withheld_amount,
  'currency', currency,
  'customer_id', customer_id,
  'merchant_id', merchant_id,
  'destination_cbu', destination_cbu,
  'description', description,
  'failure_reason', failure_reason,
  'bank_transaction_id', bank_transaction_id,
  'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000),
  'updated_at', strftime('%Y-%m-%dT%H:%M:%S', updated_at / 1000, 'unixepoch') || printf('.%03dZ', updated_at % 1000)
) AS object
FROM payouts;

-- 0010's trigger, for merchant payouts too (a return to a sender is the payment's `payment.returned`).
CREATE TRIGGER payout_event_on_status AFTER UPDATE OF status ON payouts
WHEN NEW.status <> OLD.status AND NEW.status IN ('completed', 'failed') AND NEW.kind IN ('payout', 'merchant_payout')
BEGIN
  INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
  SELECT 'evt_' || lower(hex(randomblob(12))), 'payout.' || NEW.status, NEW.merchant_id,
    'payout', NEW.id, json_object('object', json(object)), NEW.updated_at
  FROM payout_objects WHERE id = NEW.id;
END;

-- A merchant's reserve policy (API §12): one in force per merchant; POST replaces it with a new
-- id (a new version), which applies to later merchant payouts only. percentage_bps: the share
-- withheld, in basis points (percentage × 100). amount: the fixed target, in `currency`.
-- threshold_reached_at: when this version's target was first reached (its event, once).
CREATE TABLE reserve_policies (
  merchant_id          TEXT PRIMARY KEY,
  id                   TEXT NOT NULL UNIQUE,
  type                 TEXT NOT NULL CHECK (type IN ('percentage', 'fixed')),
  percentage_bps       INTEGER CHECK (percentage_bps > 0 AND percentage_bps <= 10000),
  amount               INTEGER CHECK (amount > 0 AND amount <= 100000000000000),
  currency             TEXT NOT NULL,
  holding_days         INTEGER NOT NULL CHECK (holding_days >= 0 AND holding_days <= 3650),
  threshold_reached_at INTEGER,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL,
  CHECK ((type = 'percentage' AND percentage_bps IS NOT NULL AND amount IS NULL)
      OR (type = 'fixed' AND amount IS NOT NULL AND percentage_bps IS NULL))
);

-- One row per withholding (a merchant payout that withheld anything): the money sits in the
-- reserve until release_at (percentage policies; NULL for fixed: a standing buffer the cron
-- never releases). The cron releases a hold once: a compare-and-set held → released in the
-- same batch as its ledger transaction lt_release_<payout id>.
CREATE TABLE reserve_holds (
  payout_id   TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  policy_id   TEXT NOT NULL,
  amount      INTEGER NOT NULL CHECK (amount > 0),
  currency    TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('held', 'released')),
  release_at  INTEGER,
  released_at INTEGER,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  CHECK ((status = 'released') = (released_at IS NOT NULL))
);
CREATE INDEX reserve_holds_due ON reserve_holds(release_at) WHERE status = 'held' AND release_at IS NOT NULL;

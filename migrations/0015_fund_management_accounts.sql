-- Fund management (API §12, docs/MONEY.md "The chart of accounts"): merchant balances become
-- real money. No existing entry moves: every cash-in already posts Dr settlement / Cr customer
-- and Dr attribution / Cr merchant, and every customer payout and reversal the mirror of that.
-- What changes is which pair is real. Before: settlement = customers + unassigned + suspense,
-- and merchants = attribution (memo). Now: settlement = merchants + reserves + platform +
-- suspense, and customers + unassigned = attribution (memo). Both readings hold on the same
-- entries, because each customer-side leg has always had an equal merchant-side leg; the
-- invariants (src/ledger/invariants.ts) now prove the new equations.
--
-- New accounts: a reserve per merchant and currency (kind 'reserve', `la_r…`) and the
-- platform's own balance account per currency (kind 'platform', `la_platform_<cur>`), where
-- commission lands. Both are credit-normal money owed and refuse an overdraft, like a merchant's.

-- SQLite cannot change a CHECK constraint: ledger_accounts is rebuilt (the documented
-- create-copy-drop-rename procedure). No trigger is defined ON ledger_accounts, but the two
-- entry triggers name it in their bodies, and the rename refuses a schema that refers to a
-- missing table: they are dropped first and recreated after (ledger_entry_settled exactly as
-- migrations/0004 wrote it; ledger_entry_applied with the change below). ledger_entries'
-- foreign key names the table by name and holds again once the new table has it.
PRAGMA defer_foreign_keys = on;
DROP TRIGGER ledger_entry_settled;
DROP TRIGGER ledger_entry_applied;

CREATE TABLE ledger_accounts_rebuilt (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (kind IN ('settlement', 'suspense', 'attribution', 'customer', 'merchant', 'merchant_unassigned', 'reserve', 'platform')),
  owner_id        TEXT NOT NULL,            -- 'platform', a merchant id or a customer id
  name            TEXT NOT NULL,
  normal_balance  TEXT NOT NULL CHECK (normal_balance IN ('credit', 'debit')),
  currency        TEXT NOT NULL,
  ledgerable_type TEXT,
  ledgerable_id   TEXT,
  -- 1: a debit may not take `available` below zero (merchant, reserve and platform balances:
  -- D1 is their guard; customers: D1 trails the object's guard, see 0009).
  no_overdraft    INTEGER NOT NULL DEFAULT 0 CHECK (no_overdraft IN (0, 1)),
  posted_debits   INTEGER NOT NULL DEFAULT 0,
  posted_credits  INTEGER NOT NULL DEFAULT 0,
  pending_debits  INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
  pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (kind, owner_id, currency)
);
INSERT INTO ledger_accounts_rebuilt
  SELECT id, kind, owner_id, name, normal_balance, currency, ledgerable_type, ledgerable_id, no_overdraft,
         posted_debits, posted_credits, pending_debits, pending_credits, created_at, updated_at
  FROM ledger_accounts;
DROP TABLE ledger_accounts;
ALTER TABLE ledger_accounts_rebuilt RENAME TO ledger_accounts;
CREATE INDEX ledger_accounts_by_created ON ledger_accounts(created_at, id);

CREATE TRIGGER ledger_entry_settled AFTER UPDATE OF status ON ledger_entries
WHEN OLD.status = 'pending' AND NEW.status IN ('posted', 'archived')
BEGIN
  UPDATE ledger_accounts SET
    pending_debits  = pending_debits  - (CASE WHEN NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    pending_credits = pending_credits - (CASE WHEN NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    posted_debits   = posted_debits   + (CASE WHEN NEW.status = 'posted' AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    posted_credits  = posted_credits  + (CASE WHEN NEW.status = 'posted' AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    updated_at      = COALESCE((SELECT updated_at FROM ledger_transactions WHERE id = NEW.transaction_id), updated_at)
  WHERE id = NEW.ledger_account_id;
END;

-- Every credit-normal account is money owed to someone and has the same 2^53 − 1 ceiling
-- (before: a list of kinds, which a new kind would have silently escaped).
CREATE TRIGGER ledger_entry_applied AFTER INSERT ON ledger_entries WHEN NEW.aggregated = 0
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
  SELECT RAISE(ABORT, 'balance_overflow') FROM ledger_accounts
  WHERE id = NEW.ledger_account_id AND NEW.direction = 'credit' AND normal_balance = 'credit'
    AND posted_credits + pending_credits - posted_debits > 9007199254740991;
END;

-- The platform's balance account in every currency the platform has a settlement account in.
INSERT INTO ledger_accounts (id, kind, owner_id, name, normal_balance, currency, ledgerable_type, ledgerable_id, no_overdraft, created_at, updated_at)
  SELECT 'la_platform_' || lower(currency), 'platform', 'platform', 'Platform balance (' || currency || ')', 'credit', currency, NULL, NULL, 1,
         CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
  FROM ledger_accounts WHERE kind = 'settlement'
  ON CONFLICT DO NOTHING;

-- A reserve for every merchant in every currency it has a balance account in
-- ('la_m<suffix>_<cur>' → 'la_r<suffix>_<cur>', as src/ledger/accounts.ts derives it).
INSERT INTO ledger_accounts (id, kind, owner_id, name, normal_balance, currency, ledgerable_type, ledgerable_id, no_overdraft, created_at, updated_at)
  SELECT 'la_r' || substr(id, 5), 'reserve', owner_id, 'Merchant ' || owner_id || ' reserve (' || currency || ')', 'credit', currency, 'merchant', owner_id, 1,
         CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
  FROM ledger_accounts WHERE kind = 'merchant'
  ON CONFLICT DO NOTHING;

-- Balance accounts (API §12) are the real-money ledger accounts, seen as a client needs them:
-- `ba_<x>` is the account `la_<x>`. Their balances are the ledger's (available = posted −
-- pending outflows; reserved = pending outflows), so there is nothing to keep in step.
CREATE VIEW balance_accounts AS
  SELECT 'ba_' || substr(id, 4) AS id,
         id AS ledger_account_id,
         owner_id,
         kind,
         currency,
         posted_credits - posted_debits - pending_debits AS available,
         pending_debits AS reserved,
         created_at,
         updated_at
  FROM ledger_accounts
  WHERE kind IN ('merchant', 'reserve', 'platform');

-- Where a merchant's own payouts go (API §3, §12), set by the operator.
ALTER TABLE merchants ADD COLUMN payout_cbu TEXT;

-- The attribution account is now the customers' memo contra.
UPDATE ledger_accounts SET name = 'Customer attribution, memo contra (' || currency || ')' WHERE kind = 'attribution';

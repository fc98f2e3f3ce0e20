-- Same cause, same data (issue 8, TigerBeetle's exists_with_different_*): whatever is applied
-- once per cause id keeps the data it was applied with, so that a repeat can be compared.
--   payments.fingerprint: the bank's data that decides where money goes and how much
--     (amount, currency, sender CUIT and CBU, destination, concepto), canonical JSON.
--   payouts.fingerprint: the payout's data (merchant, customer, amount, currency, destination,
--     description). Rows written before this migration keep NULL and are compared by amount
--     and currency.
ALTER TABLE payments ADD COLUMN fingerprint TEXT;
ALTER TABLE payouts ADD COLUMN fingerprint TEXT;

-- A statement inserted here aborts its whole batch (D1 rolls the batch back): the way a
-- projection refuses to half-apply when D1 already records its cause with other data.
-- `INSERT INTO write_guards (reason) SELECT 'x' WHERE NOT (<condition>)` is an assertion.
CREATE TABLE write_guards (reason TEXT NOT NULL);
CREATE TRIGGER write_guard_refuses BEFORE INSERT ON write_guards
BEGIN
  SELECT RAISE(ABORT, 'exists_with_different_data');
END;

-- Customers whose Durable Object holds projections D1 has not confirmed (its alarm failed to
-- apply them, or the Worker's own attempt failed). The repair cron wakes each object until
-- its outbox is empty; the object's own alarm keeps retrying as well.
CREATE TABLE unprojected_customers (
  customer_id TEXT PRIMARY KEY,
  since       INTEGER NOT NULL,
  last_error  TEXT,
  updated_at  INTEGER NOT NULL
);

-- Balances stay exact in JavaScript: an entry that would take the balance of an account a
-- person reads (customer, merchant, merchant's unassigned funds, suspense) past 2^53 - 1 fails
-- its batch with 'balance_overflow', and the projection is refused cleanly (the bank's event is
-- stored failed, 422). The platform's settlement and attribution accounts only ever sum the
-- others; the invariants read them as exact integers (text, then bigint).
-- The trigger of migrations/0002 is recreated with the check at its end, so that it runs after
-- the balance moved (SQLite does not order separate triggers).
DROP TRIGGER ledger_entry_applied;
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
  SELECT RAISE(ABORT, 'balance_overflow') FROM ledger_accounts
  WHERE id = NEW.ledger_account_id AND NEW.direction = 'credit' AND normal_balance = 'credit'
    AND kind IN ('customer', 'merchant', 'merchant_unassigned', 'suspense')
    AND posted_credits + pending_credits - posted_debits > 9007199254740991;
END;

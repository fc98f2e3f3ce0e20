-- Group commit (docs/MONEY.md, "Group commit"): many cash-ins are written to D1 in one batch,
-- and the balances they move are updated once per account per batch, by the batch itself,
-- instead of once per entry by the trigger. An entry written that way is marked `aggregated`;
-- the trigger leaves it alone. The invariants' accounts sweep still proves every cached
-- balance equal to the sum of its account's entries, however they were applied.
ALTER TABLE ledger_entries ADD COLUMN aggregated INTEGER NOT NULL DEFAULT 0 CHECK (aggregated IN (0, 1));

DROP TRIGGER ledger_entry_applied;
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
    AND kind IN ('customer', 'merchant', 'merchant_unassigned', 'suspense')
    AND posted_credits + pending_credits - posted_debits > 9007199254740991;
END;

-- A group commit's own overflow check, after it moved its accounts' balances: an insert here
-- aborts the whole batch with 'balance_overflow' (as the trigger above does for one entry).
CREATE TABLE overflow_guards (reason TEXT);
CREATE TRIGGER overflow_guard_refuses BEFORE INSERT ON overflow_guards
BEGIN
  SELECT RAISE(ABORT, 'balance_overflow');
END;

-- A customer's D1 account now refuses an overdraft, as a merchant's does. The customer's object
-- guards the balance first; D1 trails it by the group commit, so a payout reserved on a credit
-- D1 does not have yet is rejected (the object releases it): a credit arriving late only makes
-- the guard stricter. Above all, a credit the group commit will refuse (another version of its
-- bank transaction won) can never be paid out in the moment before it is undone.
UPDATE ledger_accounts SET no_overdraft = 1 WHERE kind = 'customer';

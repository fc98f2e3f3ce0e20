-- A ledger account's updated_at never moves backwards (and so neither does the updated_at of a
-- balance account, nor of its balance_account.balance.updated events).
--
-- Writers stamp updated_at with their own clock, taken before their batch: the group commit's
-- `now` precedes its read round trip, so a transfer committed meanwhile could stamp a later time
-- than the group's write that follows it, and a consumer keeping "latest updated_at wins" would
-- then hold the older balance. Every statement that writes ledger_accounts.updated_at now keeps
-- max(updated_at, its time): the two entry triggers below (recreated exactly as migrations/0015
-- wrote them but for that) and the group commit's balance update
-- (src/accounts/group-commit-statements.ts). Two changes may still carry the same updated_at.
DROP TRIGGER ledger_entry_settled;
CREATE TRIGGER ledger_entry_settled AFTER UPDATE OF status ON ledger_entries
WHEN OLD.status = 'pending' AND NEW.status IN ('posted', 'archived')
BEGIN
  UPDATE ledger_accounts SET
    pending_debits  = pending_debits  - (CASE WHEN NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    pending_credits = pending_credits - (CASE WHEN NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    posted_debits   = posted_debits   + (CASE WHEN NEW.status = 'posted' AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    posted_credits  = posted_credits  + (CASE WHEN NEW.status = 'posted' AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    updated_at      = max(updated_at, COALESCE((SELECT updated_at FROM ledger_transactions WHERE id = NEW.transaction_id), updated_at))
  WHERE id = NEW.ledger_account_id;
END;

DROP TRIGGER ledger_entry_applied;
CREATE TRIGGER ledger_entry_applied AFTER INSERT ON ledger_entries WHEN NEW.aggregated = 0
BEGIN
  UPDATE ledger_accounts SET
    posted_debits   = posted_debits   + (CASE WHEN NEW.status = 'posted'  AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    posted_credits  = posted_credits  + (CASE WHEN NEW.status = 'posted'  AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    pending_debits  = pending_debits  + (CASE WHEN NEW.status = 'pending' AND NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    pending_credits = pending_credits + (CASE WHEN NEW.status = 'pending' AND NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    updated_at      = max(updated_at, NEW.created_at)
  WHERE id = NEW.ledger_account_id;
  SELECT RAISE(ABORT, 'insufficient_funds') FROM ledger_accounts
  WHERE id = NEW.ledger_account_id AND no_overdraft = 1 AND NEW.direction = 'debit' AND NEW.may_overdraw = 0
    AND normal_balance = 'credit' AND posted_credits - posted_debits - pending_debits < 0;
  SELECT RAISE(ABORT, 'balance_overflow') FROM ledger_accounts
  WHERE id = NEW.ledger_account_id AND NEW.direction = 'credit' AND normal_balance = 'credit'
    AND posted_credits + pending_credits - posted_debits > 9007199254740991;
END;

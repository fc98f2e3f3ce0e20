-- A ledger account's updated_at also moves when one of its pending entries is posted or
-- archived (a payout completing or failing), not only when an entry is added: balance reads
-- report it as the time the balance last changed.
DROP TRIGGER ledger_entry_settled;
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

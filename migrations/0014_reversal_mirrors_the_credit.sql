-- A bank reversal's debit detail is the mirror of the credit detail's posting (API §11), found
-- by review: 0012 decided it from the links at reversal time, so a payment credited while
-- unlinked and reversed after linking posted a debit for money never credited there, and one
-- unlinked in between was never mirrored. Now the debit detail is ledgered exactly when its
-- credit detail was, to the very accounts the credit posted to, whatever the links say now.

DROP TRIGGER incoming_payment_detail_on_reversal;
CREATE TRIGGER incoming_payment_detail_on_reversal AFTER UPDATE OF status ON payments
WHEN NEW.status = 'reversed' AND OLD.status <> 'reversed' AND NEW.virtual_account_id IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO internal_accounts (id, merchant_id, currency, ledger_account_id, created_at, updated_at)
  SELECT 'ia_' || substr(va.merchant_id, instr(va.merchant_id, '_') + 1) || '_' || lower(NEW.currency), va.merchant_id, NEW.currency, NULL,
    NEW.updated_at, NEW.updated_at
  FROM virtual_accounts va WHERE va.id = NEW.virtual_account_id;

  INSERT OR IGNORE INTO incoming_payment_details (id, direction, merchant_id, amount, currency, virtual_account_id, internal_account_id,
    payment_id, ledger_transaction_id, created_at)
  SELECT 'ipd_reversal_' || NEW.id, 'debit', va.merchant_id, NEW.amount, NEW.currency, va.id, ia.id, NEW.id,
    CASE WHEN credit.ledger_transaction_id IS NOT NULL THEN 'lt_ml_reversal_' || NEW.id END,
    NEW.updated_at
  FROM virtual_accounts va
  JOIN internal_accounts ia ON ia.merchant_id = va.merchant_id AND ia.currency = NEW.currency
  LEFT JOIN incoming_payment_details credit ON credit.payment_id = NEW.id AND credit.direction = 'credit'
  WHERE va.id = NEW.virtual_account_id;
END;

-- Posting: a credit detail to the accounts linked now (as in 0012); a debit detail to the
-- accounts of its credit's posting, each entry the mirror of the credit's entry of the same index.
DROP TRIGGER incoming_payment_detail_ledgered;
CREATE TRIGGER incoming_payment_detail_ledgered AFTER INSERT ON incoming_payment_details WHEN NEW.ledger_transaction_id IS NOT NULL
BEGIN
  INSERT INTO merchant_ledger_transactions (id, merchant_id, description, ledgerable_type, ledgerable_id, effective_at, created_at)
  VALUES (NEW.ledger_transaction_id, NEW.merchant_id,
    CASE NEW.direction WHEN 'credit' THEN 'Payment received at a virtual account' ELSE 'Payment at a virtual account reversed by the bank' END,
    'incoming_payment_detail', NEW.id, NEW.created_at, NEW.created_at);
  INSERT INTO merchant_ledger_entries (id, transaction_id, ledger_account_id, direction, amount, created_at)
  SELECT NEW.ledger_transaction_id || ':0', NEW.ledger_transaction_id, va.ledger_account_id, 'credit', NEW.amount, NEW.created_at
  FROM virtual_accounts va WHERE va.id = NEW.virtual_account_id AND NEW.direction = 'credit';
  INSERT INTO merchant_ledger_entries (id, transaction_id, ledger_account_id, direction, amount, created_at)
  SELECT NEW.ledger_transaction_id || ':1', NEW.ledger_transaction_id, ia.ledger_account_id, 'debit', NEW.amount, NEW.created_at
  FROM internal_accounts ia WHERE ia.id = NEW.internal_account_id AND NEW.direction = 'credit';
  INSERT INTO merchant_ledger_entries (id, transaction_id, ledger_account_id, direction, amount, created_at)
  SELECT NEW.ledger_transaction_id || substr(credited.id, -2), NEW.ledger_transaction_id, credited.ledger_account_id,
    CASE credited.direction WHEN 'credit' THEN 'debit' ELSE 'credit' END, NEW.amount, NEW.created_at
  FROM merchant_ledger_entries credited
  WHERE NEW.direction = 'debit' AND credited.transaction_id = 'lt_ml_' || NEW.payment_id;
END;

-- Finding a pair's accounts (deposit details, the open-account bound on create) without
-- scanning all of the merchant's accounts: found by review.
CREATE INDEX virtual_accounts_by_pair ON virtual_accounts(customer_id, merchant_id, kind, status);

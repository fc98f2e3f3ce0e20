-- Incoming payment details and auto-ledgering (API §11 "Incoming payment details").
--
-- Like the events of migrations/0010, a detail is written by a trigger on the payment row it
-- describes, so it is in the same atomic write as the payment on every path that makes one
-- (a cash-in's group commit — one multi-row INSERT, whose triggers fire per row — or its
-- one-by-one projection, a bank reversal), and exists exactly when the payment does. Replays
-- make none: a payment row is inserted once (a replayed projection's insert is skipped by its
-- ON CONFLICT DO NOTHING, or fails the group's batch), a payment is reversed once (OLD.status
-- <> 'reversed'), and each detail's id is derived from its payment with UNIQUE(payment_id,
-- direction) behind INSERT OR IGNORE besides.
--
-- Which payments: every payment that arrives at a virtual account (payments.virtual_account_id
-- set by routing rule 1), credited, quarantined (held) or later returned alike: the money
-- arrived at the account whatever became of it. A `debit` detail only for a bank reversal
-- (status → 'reversed'), as API §11 says; a return to the sender is a payout of the platform's
-- suspense (its own object, `payment.returned`), not money coming back through the account.
--
-- Ids (the code in src/merchant-ledger/ids.ts derives the same ones):
--   internal account      ia_<merchant id without its prefix>_<currency, lower case>
--   credit detail         ipd_<payment id>            (ipd_pay_…)
--   debit detail          ipd_reversal_<payment id>
--   its ledger transaction lt_ml_<detail id without "ipd_"> (lt_ml_pay_…, lt_ml_reversal_pay_…):
--                         `lt_ml_` never begins a platform transaction id (lt_<record id>,
--                         lt_assign_…, lt_reversal_…), so an id says which ledger it is in.
--   its entries           <transaction id>:0 (the virtual account's side), :1 (the internal account's)

-- Auto-ledgering is decided when the detail is written: it carries ledger_transaction_id
-- exactly when, at that moment, the virtual account and the merchant's internal account in the
-- payment's currency are both linked to accounts of the merchant's own ledger in that currency.
-- Linking later does not backfill.
CREATE TRIGGER incoming_payment_detail_on_arrival AFTER INSERT ON payments WHEN NEW.virtual_account_id IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO internal_accounts (id, merchant_id, currency, ledger_account_id, created_at, updated_at)
  SELECT 'ia_' || substr(va.merchant_id, instr(va.merchant_id, '_') + 1) || '_' || lower(NEW.currency), va.merchant_id, NEW.currency, NULL,
    NEW.updated_at, NEW.updated_at
  FROM virtual_accounts va WHERE va.id = NEW.virtual_account_id;

  INSERT OR IGNORE INTO incoming_payment_details (id, direction, merchant_id, amount, currency, virtual_account_id, internal_account_id,
    payment_id, ledger_transaction_id, created_at)
  SELECT 'ipd_' || NEW.id, 'credit', va.merchant_id, NEW.amount, NEW.currency, va.id, ia.id, NEW.id,
    CASE WHEN virtual_side.id IS NOT NULL AND internal_side.id IS NOT NULL THEN 'lt_ml_' || NEW.id END,
    NEW.updated_at
  FROM virtual_accounts va
  JOIN internal_accounts ia ON ia.merchant_id = va.merchant_id AND ia.currency = NEW.currency
  LEFT JOIN merchant_ledger_accounts virtual_side
    ON virtual_side.id = va.ledger_account_id AND virtual_side.merchant_id = va.merchant_id AND virtual_side.currency = NEW.currency
  LEFT JOIN merchant_ledger_accounts internal_side
    ON internal_side.id = ia.ledger_account_id AND internal_side.merchant_id = va.merchant_id AND internal_side.currency = NEW.currency
  WHERE va.id = NEW.virtual_account_id;
END;

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
    CASE WHEN virtual_side.id IS NOT NULL AND internal_side.id IS NOT NULL THEN 'lt_ml_reversal_' || NEW.id END,
    NEW.updated_at
  FROM virtual_accounts va
  JOIN internal_accounts ia ON ia.merchant_id = va.merchant_id AND ia.currency = NEW.currency
  LEFT JOIN merchant_ledger_accounts virtual_side
    ON virtual_side.id = va.ledger_account_id AND virtual_side.merchant_id = va.merchant_id AND virtual_side.currency = NEW.currency
  LEFT JOIN merchant_ledger_accounts internal_side
    ON internal_side.id = ia.ledger_account_id AND internal_side.merchant_id = va.merchant_id AND internal_side.currency = NEW.currency
  WHERE va.id = NEW.virtual_account_id;
END;

-- A detail that carries a ledger transaction id posts it, in the same write: a credit detail
-- credits the virtual account's ledger account and debits the internal account's; a debit
-- detail is the mirror image. It fires only for a detail row actually inserted (not for one
-- INSERT OR IGNORE skipped), so each detail posts at most once; the accounts read here are
-- those the detail's insert just found linked (the same statement: nothing runs between).
CREATE TRIGGER incoming_payment_detail_ledgered AFTER INSERT ON incoming_payment_details WHEN NEW.ledger_transaction_id IS NOT NULL
BEGIN
  INSERT INTO merchant_ledger_transactions (id, merchant_id, description, ledgerable_type, ledgerable_id, effective_at, created_at)
  VALUES (NEW.ledger_transaction_id, NEW.merchant_id,
    CASE NEW.direction WHEN 'credit' THEN 'Payment received at a virtual account' ELSE 'Payment at a virtual account reversed by the bank' END,
    'incoming_payment_detail', NEW.id, NEW.created_at, NEW.created_at);
  INSERT INTO merchant_ledger_entries (id, transaction_id, ledger_account_id, direction, amount, created_at)
  SELECT NEW.ledger_transaction_id || ':0', NEW.ledger_transaction_id, va.ledger_account_id, NEW.direction, NEW.amount, NEW.created_at
  FROM virtual_accounts va WHERE va.id = NEW.virtual_account_id;
  INSERT INTO merchant_ledger_entries (id, transaction_id, ledger_account_id, direction, amount, created_at)
  SELECT NEW.ledger_transaction_id || ':1', NEW.ledger_transaction_id, ia.ledger_account_id,
    CASE NEW.direction WHEN 'credit' THEN 'debit' ELSE 'credit' END, NEW.amount, NEW.created_at
  FROM internal_accounts ia WHERE ia.id = NEW.internal_account_id;
END;

-- Each entry moves its account's cached balance, as the platform's ledger_entry_applied does.
CREATE TRIGGER merchant_ledger_entry_applied AFTER INSERT ON merchant_ledger_entries
BEGIN
  UPDATE merchant_ledger_accounts SET
    posted_debits  = posted_debits  + (CASE WHEN NEW.direction = 'debit'  THEN NEW.amount ELSE 0 END),
    posted_credits = posted_credits + (CASE WHEN NEW.direction = 'credit' THEN NEW.amount ELSE 0 END),
    updated_at     = NEW.created_at
  WHERE id = NEW.ledger_account_id;
END;

-- The merchant's books are append-only, as the platform's are (migrations/0002): entries,
-- transactions and details are never changed or removed once written.
CREATE TRIGGER merchant_ledger_entry_immutable BEFORE UPDATE ON merchant_ledger_entries
BEGIN
  SELECT RAISE(ABORT, 'ledger entries are immutable');
END;
CREATE TRIGGER merchant_ledger_entry_undeletable BEFORE DELETE ON merchant_ledger_entries
BEGIN
  SELECT RAISE(ABORT, 'ledger entries are immutable');
END;
CREATE TRIGGER merchant_ledger_transaction_immutable BEFORE UPDATE ON merchant_ledger_transactions
BEGIN
  SELECT RAISE(ABORT, 'a posted ledger transaction is final');
END;
CREATE TRIGGER merchant_ledger_transaction_undeletable BEFORE DELETE ON merchant_ledger_transactions
BEGIN
  SELECT RAISE(ABORT, 'a posted ledger transaction is final');
END;
CREATE TRIGGER incoming_payment_detail_immutable BEFORE UPDATE ON incoming_payment_details
BEGIN
  SELECT RAISE(ABORT, 'incoming payment details are immutable');
END;
CREATE TRIGGER incoming_payment_detail_undeletable BEFORE DELETE ON incoming_payment_details
BEGIN
  SELECT RAISE(ABORT, 'incoming payment details are immutable');
END;

-- Lists: a merchant's details newest first (incoming_payment_details_by_merchant and
-- _by_virtual_account exist, 0011); the operator's list of every detail.
CREATE INDEX incoming_payment_details_by_time ON incoming_payment_details(created_at, id);
CREATE INDEX merchant_ledger_accounts_by_time ON merchant_ledger_accounts(created_at, id);

-- Commission (API §12, docs/MONEY.md "Commission"): the operator prices a merchant's cash-ins,
-- and each credited cash-in moves its fee from the merchant's balance account to the
-- platform's, inside the cash-in's own ledger transaction (Dr merchant / Cr platform).
--
-- merchant_pricing: at most one price per merchant (no row = no fee). The cash-in path reads
-- it through a per-isolate cache (src/commission/pricing-cache.ts), so a change applies to
-- cash-ins received from at most that cache's TTL later.
CREATE TABLE merchant_pricing (
  merchant_id TEXT PRIMARY KEY REFERENCES merchants(id),
  cash_in_fee_bps INTEGER NOT NULL CHECK (cash_in_fee_bps BETWEEN 0 AND 10000),
  cash_in_fee_fixed INTEGER NOT NULL DEFAULT 0 CHECK (cash_in_fee_fixed BETWEEN 0 AND 1000000000000),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- The fee a payment paid, decided once when it was first credited (or assigned) and stored
-- with it: the payments sweep expects exactly these fee entries in its ledger transaction.
ALTER TABLE payments ADD COLUMN fee_amount INTEGER NOT NULL DEFAULT 0 CHECK (fee_amount >= 0 AND fee_amount <= amount);

-- The payment object now shows fee_amount. Event snapshots are rendered by this view (0010),
-- so it must show exactly what GET /v1/payments/{id} shows (test/events/ compares the two).
DROP VIEW payment_objects;
CREATE VIEW payment_objects AS
SELECT id, json_object(
  'id', id,
  'status', status,
  'amount', amount,
  'currency', currency,
  'customer_id', customer_id,
  'merchant_id', merchant_id,
  'bank_transaction_id', bank_transaction_id,
  'sender', json_object('cuit', sender_cuit, 'name', sender_name, 'cbu', sender_cbu),
  'concepto', concepto,
  'matched_by', matched_by,
  'virtual_account_id', virtual_account_id,
  'quarantine_reason', quarantine_reason,
  'fee_amount', fee_amount,
  'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000)
) AS object
FROM payments;

-- Routing rule 1 (API §5, §11): the payment object shows the virtual account a transfer was
-- sent to and why it was quarantined. Event snapshots are rendered by this view (0010), so it
-- must show exactly what GET /v1/payments/{id} shows (test/events/ compares the two).
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
  'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000)
) AS object
FROM payments;

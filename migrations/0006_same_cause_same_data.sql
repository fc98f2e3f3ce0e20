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

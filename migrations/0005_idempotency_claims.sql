-- Idempotency claims (API §1, issue 8 items 1 and 5).
--
-- claim_id identifies one claim of a key: minted when the row is inserted, kept by every
-- retry of that claim (a retry after a 5xx or after a dead request's lock expired takes the
-- row over, claim_id unchanged), and new when the key is claimed afresh after its retention
-- (the stale row is deleted, by the cron or by the next claim, and a new row inserted).
-- Handlers derive resource ids from it, so a key reused after retention is a new request and
-- never reaches the old one's resource.
--
-- A row now outlives a 5xx: 'in_flight' with locked_until in the past means the request
-- started and did not finish (it died, or answered 5xx); its fingerprint stays, so a retry
-- with the same body takes the row over and runs again, and one with another body is
-- refused (422 idempotency_key_reused).
--
-- Rebuilt rather than ALTERed so that claim_id is NOT NULL without a default: a claim
-- without an identity of its own must fail, not silently share ''. Rows already stored get
-- a random claim of their own.
CREATE TABLE idempotency_keys_new (
  caller          TEXT NOT NULL,
  key             TEXT NOT NULL,
  claim_id        TEXT NOT NULL,
  fingerprint     TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
  response_status INTEGER,
  response_body   TEXT,
  locked_until    INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (caller, key)
);
INSERT INTO idempotency_keys_new (caller, key, claim_id, fingerprint, state, response_status, response_body, locked_until, created_at)
  SELECT caller, key, lower(hex(randomblob(16))), fingerprint, state, response_status, response_body, locked_until, created_at
  FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);

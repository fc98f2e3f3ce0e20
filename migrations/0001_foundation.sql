-- Foundation: merchants, their API keys, customers and the merchant links that make a
-- customer visible to a merchant, and the idempotency log. Timestamps are integer
-- milliseconds since the epoch (rendered as RFC 3339 by the API).

CREATE TABLE merchants (
  id             TEXT PRIMARY KEY,
  name           TEXT NOT NULL,
  reference      TEXT NOT NULL UNIQUE,   -- normalized merchant deposit reference (MR…)
  webhook_url    TEXT,
  webhook_secret TEXT NOT NULL,          -- kept in clear: outbound webhooks are signed with it
  created_at     INTEGER NOT NULL
);

-- Merchant API keys are stored only as SHA-256 hashes; the prefix identifies a key for
-- revocation without revealing it.
CREATE TABLE api_keys (
  prefix      TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  key_hash    TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX api_keys_by_merchant ON api_keys(merchant_id);

-- Customers are platform-wide, one per CUIT: the UNIQUE constraint is what makes two
-- concurrent first cash-ins from the same person create one customer.
CREATE TABLE customers (
  id               TEXT PRIMARY KEY,
  cuit             TEXT NOT NULL UNIQUE,
  name             TEXT NOT NULL,
  cbu              TEXT,
  origin           TEXT NOT NULL CHECK (origin IN ('api', 'auto')),
  last_merchant_id TEXT,
  created_at       INTEGER NOT NULL
);

-- A merchant sees a customer once linked. Each link carries the customer's deposit
-- reference for that merchant (CR…), unique platform-wide.
CREATE TABLE customer_links (
  customer_id TEXT NOT NULL REFERENCES customers(id),
  merchant_id TEXT NOT NULL REFERENCES merchants(id),
  reference   TEXT NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (customer_id, merchant_id)
);
CREATE INDEX customer_links_by_merchant ON customer_links(merchant_id, created_at);

-- Idempotency log: one row per (caller, key). `state` is 'in_flight' while the first
-- request runs (its lock expires at locked_until) and 'completed' once its response is stored.
CREATE TABLE idempotency_keys (
  caller          TEXT NOT NULL,
  key             TEXT NOT NULL,
  fingerprint     TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
  response_status INTEGER,
  response_body   TEXT,
  locked_until    INTEGER NOT NULL,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);

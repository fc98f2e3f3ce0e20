-- Internal transfers (API §12) and the balance events of API §14.
--
-- A transfer moves money between two balance accounts (merchant, reserve or platform ledger
-- accounts) with no bank payout: one row here and one posted ledger transaction lt_<id>
-- (Dr from / Cr to), written in the same D1 batch by src/transfers/execute-transfer.ts. The
-- source's no_overdraft guard (migrations/0015's entry trigger) refuses a debit its available
-- cannot cover and the whole batch rolls back: no row, no entries, no event.
--
-- Transfers are final when written (status 'completed'), and immutable: a repeat of the same id
-- with the same data (the fingerprint) replays, with other data it is a conflict that moves
-- nothing (the ledger transaction is written only while the row carries the batch's fingerprint).
CREATE TABLE transfers (
  id                   TEXT PRIMARY KEY,
  -- Why it moved: 'transfer' (POST /v1/transfers), 'top_up', 'sweep', 'reserve_release', …
  kind                 TEXT NOT NULL,
  status               TEXT NOT NULL CHECK (status IN ('completed')),
  from_balance_account TEXT NOT NULL,
  to_balance_account   TEXT NOT NULL,
  -- The accounts' owners (a merchant id or 'platform'), copied from ledger_accounts: who sees
  -- the transfer, and who gets its event. Accounts never change owner.
  from_owner_id        TEXT NOT NULL,
  to_owner_id          TEXT NOT NULL,
  amount               INTEGER NOT NULL CHECK (amount > 0),
  currency             TEXT NOT NULL,
  description          TEXT,
  -- A merchant id, 'operator' or 'cron'.
  initiated_by         TEXT NOT NULL,
  metadata             TEXT NOT NULL DEFAULT '{}',  -- a JSON object of strings
  fingerprint          TEXT NOT NULL,               -- of every field above but status
  created_at           INTEGER NOT NULL,
  CHECK (from_balance_account <> to_balance_account)
);
CREATE INDEX transfers_by_time ON transfers(created_at, id);
CREATE INDEX transfers_by_from_owner ON transfers(from_owner_id, created_at, id);
CREATE INDEX transfers_by_to_owner ON transfers(to_owner_id, created_at, id);
CREATE INDEX transfers_by_from_account ON transfers(from_balance_account, created_at, id);
CREATE INDEX transfers_by_to_account ON transfers(to_balance_account, created_at, id);

-- The transfer as GET /v1/transfers/{id} shows it (src/transfers/transfer-row.ts transferView;
-- a test compares the two), for its events.
CREATE VIEW transfer_objects AS
SELECT id, json_object(
  'id', id,
  'object', 'transfer',
  'status', status,
  'kind', kind,
  'from_balance_account', from_balance_account,
  'to_balance_account', to_balance_account,
  'amount', amount,
  'currency', currency,
  'description', description,
  'metadata', json(metadata),
  'created_at', strftime('%Y-%m-%dT%H:%M:%S', created_at / 1000, 'unixepoch') || printf('.%03dZ', created_at % 1000)
) AS object
FROM transfers;

-- transfer.completed: one event per distinct owner of the two accounts, in the transfer's own
-- write. A merchant's account gives that merchant its event (delivered to its webhook); the
-- platform's account gives the platform's event (merchant_id NULL: the operator sees it, nobody
-- gets it delivered). events' UNIQUE (type, object_id) holds with object_id '<tr id>:<owner>'.
CREATE TRIGGER transfer_event_on_insert AFTER INSERT ON transfers
BEGIN
  INSERT OR IGNORE INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
  SELECT 'evt_' || lower(hex(randomblob(12))), 'transfer.completed',
    CASE owners.owner WHEN 'platform' THEN NULL ELSE owners.owner END,
    'transfer', NEW.id || ':' || owners.owner, json_object('object', json(o.object)), NEW.created_at
  FROM (SELECT NEW.from_owner_id AS owner UNION SELECT NEW.to_owner_id) AS owners
  JOIN transfer_objects o ON o.id = NEW.id;
END;

-- balance_account.balance.updated: whenever a balance account's `available` or `reserved`
-- changes (a transfer, a cash-in, a payout reserved, settled or returned, a reversal, …), in the
-- write that changes it, so exactly once per change. A change that moves neither (a pending
-- credit) says nothing. data.object is the balance account as GET /v1/balance-accounts/{id}
-- shows it (src/transfers/balance-account-view.ts), written from NEW rather than read from the
-- balance_accounts view (whose computed id no index serves). The group commit updates an
-- account once per group: one event per merchant per group, not one per cash-in. A merchant's
-- and its reserve's events are the merchant's; the platform's account's are the platform's.
-- object_id is the balance account's id plus a random suffix: the same account changes many
-- times, and events' UNIQUE (type, object_id) is for once-per-object types.
CREATE TRIGGER balance_account_event_on_change AFTER UPDATE OF posted_debits, posted_credits, pending_debits ON ledger_accounts
WHEN NEW.kind IN ('merchant', 'reserve', 'platform')
  AND (NEW.posted_credits - NEW.posted_debits - NEW.pending_debits <> OLD.posted_credits - OLD.posted_debits - OLD.pending_debits
       OR NEW.pending_debits <> OLD.pending_debits)
BEGIN
  INSERT INTO events (id, type, merchant_id, object_type, object_id, data, created_at)
  VALUES (
    'evt_' || lower(hex(randomblob(12))),
    'balance_account.balance.updated',
    CASE NEW.kind WHEN 'platform' THEN NULL ELSE NEW.owner_id END,
    'balance_account',
    'ba_' || substr(NEW.id, 4) || ':' || lower(hex(randomblob(8))),
    json_object('object', json_object(
      'id', 'ba_' || substr(NEW.id, 4),
      'object', 'balance_account',
      'owner_id', NEW.owner_id,
      'kind', NEW.kind,
      'currency', NEW.currency,
      'available', NEW.posted_credits - NEW.posted_debits - NEW.pending_debits,
      'reserved', NEW.pending_debits,
      'updated_at', strftime('%Y-%m-%dT%H:%M:%S', NEW.updated_at / 1000, 'unixepoch') || printf('.%03dZ', NEW.updated_at % 1000)
    )),
    NEW.updated_at
  );
END;

-- A merchant payout that fails permanently or is canceled returns its withholding too (API §12:
-- "the same lifecycle as section 7"): finish-payout posts lt_unwithhold_<payout> (Dr reserve /
-- Cr merchant) and moves its hold held → 'voided' in the batch that archives lt_<payout>. A hold
-- already released stays released (its money went back by lt_release_<payout>).
-- A release the reserve cannot cover is retried with backoff (attempts, next_attempt_at; NULL:
-- due at release_at), and the cron picks holds by that time: a refused hold waits behind the
-- others instead of being first in every tick's LIMIT forever.
-- SQLite cannot change a CHECK in place: the small table is rebuilt.
CREATE TABLE reserve_holds_new (
  payout_id   TEXT PRIMARY KEY,
  merchant_id TEXT NOT NULL,
  policy_id   TEXT NOT NULL,
  amount      INTEGER NOT NULL CHECK (amount > 0),
  currency    TEXT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('held', 'released', 'voided')),
  release_at  INTEGER,
  released_at INTEGER,
  voided_at   INTEGER,
  attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at INTEGER,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  CHECK ((status = 'released') = (released_at IS NOT NULL)),
  CHECK ((status = 'voided') = (voided_at IS NOT NULL))
);
INSERT INTO reserve_holds_new (payout_id, merchant_id, policy_id, amount, currency, status, release_at, released_at, created_at, updated_at)
  SELECT payout_id, merchant_id, policy_id, amount, currency, status, release_at, released_at, created_at, updated_at FROM reserve_holds;
DROP TABLE reserve_holds;
ALTER TABLE reserve_holds_new RENAME TO reserve_holds;
CREATE INDEX reserve_holds_due ON reserve_holds(COALESCE(next_attempt_at, release_at)) WHERE status = 'held' AND release_at IS NOT NULL;

-- Sweeps (API §12): a rule that moves a balance account's excess over `trigger_amount` to a
-- target balance account once a day at a Buenos Aires time, run by the cron (src/sweeps/).
--
-- A sweep belongs to its source balance account (`balance_account_id`, never a reserve) and
-- its owner (`owner_id`: the merchant, or 'platform'). DELETE marks it deleted: it never runs
-- again, and it stays readable, because its runs, transfers and events name it.
CREATE TABLE sweeps (
  id                     TEXT PRIMARY KEY,
  balance_account_id     TEXT NOT NULL,  -- the source, 'ba_…'
  target_balance_account TEXT NOT NULL,  -- 'ba_…', same currency, never the source
  owner_id               TEXT NOT NULL,  -- the source's owner: a merchant id, or 'platform'
  currency               TEXT NOT NULL,
  sweep_type             TEXT NOT NULL CHECK (sweep_type IN ('push', 'pull')),
  schedule_type          TEXT NOT NULL CHECK (schedule_type = 'daily'),
  schedule_time          TEXT NOT NULL CHECK (schedule_time GLOB '[0-2][0-9]:[0-5][0-9]' AND schedule_time <= '23:59'),
  -- schedule_time as minutes after Buenos Aires midnight: what the cron's query compares.
  schedule_minutes       INTEGER NOT NULL CHECK (schedule_minutes BETWEEN 0 AND 1439),
  trigger_type           TEXT NOT NULL CHECK (trigger_type = 'balance_exceeds'),
  trigger_amount         INTEGER NOT NULL CHECK (trigger_amount >= 0),
  status                 TEXT NOT NULL CHECK (status IN ('active', 'deleted')),
  created_at             INTEGER NOT NULL,
  updated_at             INTEGER NOT NULL,
  deleted_at             INTEGER,
  CHECK (balance_account_id <> target_balance_account)
);
CREATE INDEX sweeps_by_account ON sweeps(balance_account_id, status, created_at, id);
CREATE INDEX sweeps_active ON sweeps(schedule_minutes, id) WHERE status = 'active';

-- One row per sweep and Buenos Aires business day on which it ran: the key that makes a run
-- happen at most once a day whatever the cron does (repeated, concurrent or late ticks).
-- `pending`: claimed with its amount fixed, the transfer (whose id is deterministic:
-- tr_sweep_<sweep>_<yyyymmdd>) not yet known to be made; `completed` | `failed`: the outcome,
-- written in one batch with its event; `skipped`: nothing to move (no transfer, no event).
CREATE TABLE sweep_runs (
  id                TEXT PRIMARY KEY,  -- 'swr_<sweep suffix>_<yyyymmdd>'
  sweep_id          TEXT NOT NULL,
  business_day      TEXT NOT NULL,     -- YYYY-MM-DD in Buenos Aires: the day of the occurrence run
  status            TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'skipped')),
  available_amount  INTEGER NOT NULL,  -- the source's `available` when the run was claimed
  amount            INTEGER NOT NULL CHECK (amount >= 0),  -- what it moves (0: skipped)
  transfer_id       TEXT,              -- NULL when skipped
  failure_reason    TEXT,
  claimed_at        INTEGER NOT NULL,
  attempts          INTEGER NOT NULL DEFAULT 1,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL,
  finished_at       INTEGER,
  UNIQUE (sweep_id, business_day),
  CHECK ((status = 'skipped') = (transfer_id IS NULL)),
  CHECK ((status = 'skipped') = (amount = 0))
);
CREATE INDEX sweep_runs_pending ON sweep_runs(claimed_at) WHERE status = 'pending';

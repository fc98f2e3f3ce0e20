-- GET /v1/admin/invariants checks the books a window at a time, so that no call nears D1's
-- limits however large they grow (src/ledger/sweeps/). Each sweep walks one table in id order
-- across calls; this row is where it stands. A check is green only once a complete pass has
-- found nothing and the pass in progress has found nothing so far.
CREATE TABLE invariant_sweeps (
  name                     TEXT PRIMARY KEY,          -- 'customers', 'ledger_transactions', 'payments', 'payouts', 'ledger_accounts'
  version                  INTEGER NOT NULL,          -- compare-and-set: of two concurrent calls, one advances the pass
  cursor                   TEXT,                      -- the last id the pass in progress checked; NULL: it starts at the first
  started_at               INTEGER,                   -- when the pass in progress started; NULL: none in progress
  checked                  INTEGER NOT NULL DEFAULT 0, -- rows the pass in progress has checked
  failures                 TEXT NOT NULL DEFAULT '{}', -- JSON, per check: { count, sample } found by the pass in progress
  last_complete_started_at INTEGER,
  last_complete_at         INTEGER,                   -- when the last complete pass ended; NULL: none yet
  last_complete_checked    INTEGER,
  last_complete_failures   TEXT,                      -- JSON, as `failures`, of the last complete pass
  updated_at               INTEGER NOT NULL
);

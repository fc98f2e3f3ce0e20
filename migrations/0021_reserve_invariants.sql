-- The invariants over reserves (API §12, docs/MONEY.md "Reserves and merchant payouts"):
-- indexes so that their queries are bounded range scans, not scans of every hold.
--
-- reserve_balances_equal_holds (the ledger-accounts sweep): per reserve account, the sum of its
-- merchant's held holds in its currency. Held holds only: released and voided ones are history.
CREATE INDEX reserve_holds_held_by_reserve ON reserve_holds(merchant_id, currency) WHERE status = 'held';
-- reserve_holds_released_on_time (every call): held holds by their release date. The cron's own
-- index (reserve_holds_due) orders by the next attempt, which a refused release pushes forward,
-- so it cannot find a hold long past its release date.
CREATE INDEX reserve_holds_by_release_date ON reserve_holds(release_at) WHERE status = 'held' AND release_at IS NOT NULL;

-- Ledger rows that name an auto-reload crossing ("<token>#<n>"), for BalanceRepository.seedsOf.
-- Migrations run in one transaction, so this build holds inserts into ledger_entries while it
-- scans the table. On a large ledger, create it first with
--   CREATE INDEX CONCURRENTLY "ledger_entries_reload_crossings_idx" ON "ledger_entries" ("account_id") WHERE "redis_token" like '%#%';
-- and this statement then does nothing.
CREATE INDEX IF NOT EXISTS "ledger_entries_reload_crossings_idx" ON "ledger_entries" USING btree ("account_id") WHERE "ledger_entries"."redis_token" like '%#%';

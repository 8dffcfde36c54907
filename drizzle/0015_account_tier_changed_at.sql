-- Hand-edited: the backfill after the column. Each account gets its latest account.tier_changed
-- audit row, written in the transaction that changed the tier (an admin's change or the first
-- purchase), so exactly when its current tier began. Without one (never changed, or pruned past
-- the audit retention), null: ingest then refuses a Free account's paid models at any occurred_at,
-- as it did before this column.
ALTER TABLE "accounts" ADD COLUMN "tier_changed_at" timestamp with time zone;--> statement-breakpoint
UPDATE "accounts" AS a SET "tier_changed_at" = l."changed_at"
FROM (SELECT "account_id", max("created_at") AS "changed_at" FROM "audit_log"
      WHERE "action" = 'account.tier_changed' GROUP BY "account_id") AS l
WHERE l."account_id" = a."id";

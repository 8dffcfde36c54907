-- Hand-edited: the column is added without a default and given one afterwards. A volatile default
-- in ADD COLUMN would rewrite the whole table and stamp every existing row with this migration's
-- transaction; this way existing rows stay null (seen by every statement) and only new rows get
-- the id of the transaction that inserted them.
ALTER TABLE "usage_events" ADD COLUMN "xact_id" xid8;--> statement-breakpoint
ALTER TABLE "usage_events" ALTER COLUMN "xact_id" SET DEFAULT pg_current_xact_id();--> statement-breakpoint
ALTER TABLE "invoices" ADD COLUMN "usage_snapshot" pg_snapshot;

-- Hand-edited: the backfill of existing invoice-billing accounts runs between the column and its
-- check. Each gets its latest invoice_billing.enabled audit row, written in the transaction that
-- switched it from prepaid, so exactly when its current run of invoice billing began (after a
-- switch back to prepaid and on again, the later one). Without that row (pruned past the audit
-- retention: on invoice billing since longer than that), the first day of its first statement,
-- the bound statements kept until now, so its next statement covers what it would have. Without
-- either, this migration's time: no earlier usage can be shown to have been charged on invoice
-- billing, and billing prepaid usage twice is the error this column exists to prevent.
ALTER TABLE "accounts" ADD COLUMN "invoice_billing_since" timestamp with time zone;--> statement-breakpoint
UPDATE "accounts" AS a SET "invoice_billing_since" = coalesce(
  (SELECT max(l."created_at") FROM "audit_log" AS l
   WHERE l."account_id" = a."id" AND l."action" = 'invoice_billing.enabled'),
  (SELECT min(i."period_start")::timestamp AT TIME ZONE 'UTC' FROM "invoices" AS i
   WHERE i."account_id" = a."id" AND i."kind" = 'usage_statement'),
  now())
WHERE a."billing_mode" = 'invoice';--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_invoice_billing_since" CHECK (("accounts"."billing_mode" = 'invoice') = ("accounts"."invoice_billing_since" is not null));

-- Hand-edited: the backfill between the column and the index. Until now nothing drew a PDF again
-- when its invoice's status changed, so a recorded PDF shows the status at issue: purchase invoices
-- are issued paid, statements open. A statement paid or overdue since is drawn again by the render
-- sweep, once; if its first render came after the change, the bytes are the same and nothing moves.
ALTER TABLE "invoices" ADD COLUMN "pdf_status" "invoice_status";--> statement-breakpoint
UPDATE "invoices" SET "pdf_status" = CASE WHEN "kind" = 'usage_statement' THEN 'open' ELSE "status" END
WHERE "pdf_key" IS NOT NULL;--> statement-breakpoint
CREATE INDEX "invoices_pdf_due_idx" ON "invoices" USING btree ("created_at") WHERE "invoices"."pdf_key" is null or "invoices"."pdf_status" is distinct from "invoices"."status";

ALTER TABLE "credit_purchases" ADD COLUMN "bill_to" jsonb;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD COLUMN "purchase_order_number" text;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD COLUMN "billing_reference" text;
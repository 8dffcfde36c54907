CREATE TYPE "public"."billing_mode" AS ENUM('prepaid', 'invoice');--> statement-breakpoint
CREATE TYPE "public"."tax_exemption_status" AS ENUM('pending', 'approved', 'rejected');--> statement-breakpoint
CREATE TYPE "public"."invoice_kind" AS ENUM('purchase', 'auto_reload', 'usage_statement');--> statement-breakpoint
CREATE TYPE "public"."invoice_status" AS ENUM('paid', 'open', 'overdue', 'void');--> statement-breakpoint
CREATE TYPE "public"."invoice_export_status" AS ENUM('pending', 'ready', 'failed');--> statement-breakpoint
ALTER TYPE "public"."ledger_entry_kind" ADD VALUE 'invoice_payment';--> statement-breakpoint
CREATE TABLE "billing_profiles" (
	"account_id" uuid PRIMARY KEY NOT NULL,
	"legal_name" text,
	"address_line1" text,
	"address_line2" text,
	"city" text,
	"region" text,
	"postal_code" text,
	"country" text,
	"tax_id" text,
	"purchase_order_number" text,
	"billing_reference" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tax_exemptions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"status" "tax_exemption_status" DEFAULT 'pending' NOT NULL,
	"file_name" text NOT NULL,
	"content_type" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"object_key" text NOT NULL,
	"sha256" text NOT NULL,
	"uploaded_at" timestamp with time zone DEFAULT now() NOT NULL,
	"reviewed_at" timestamp with time zone,
	"review_note" text
);
--> statement-breakpoint
CREATE TABLE "invoice_sequences" (
	"year" integer PRIMARY KEY NOT NULL,
	"last_number" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invoices" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"number" text NOT NULL,
	"issue_year" integer NOT NULL,
	"sequence" integer NOT NULL,
	"kind" "invoice_kind" NOT NULL,
	"status" "invoice_status" NOT NULL,
	"currency" text DEFAULT 'usd' NOT NULL,
	"issued_at" timestamp with time zone NOT NULL,
	"transaction_at" timestamp with time zone NOT NULL,
	"due_date" date,
	"period_start" date,
	"period_end" date,
	"purchase_id" uuid,
	"subtotal_micros" bigint NOT NULL,
	"discount_micros" bigint DEFAULT 0 NOT NULL,
	"tax_micros" bigint NOT NULL,
	"total_micros" bigint NOT NULL,
	"tax_jurisdiction" text,
	"tax_rate_ppm" integer DEFAULT 0 NOT NULL,
	"tax_exempt" boolean DEFAULT false NOT NULL,
	"bill_to" jsonb NOT NULL,
	"card_brand" text,
	"card_last4" text,
	"purchase_order_number" text,
	"billing_reference" text,
	"pdf_key" text,
	"pdf_sha256" text,
	"pdf_rendered_at" timestamp with time zone,
	"paid_at" timestamp with time zone,
	"voided_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invoices_total_adds_up" CHECK ("invoices"."total_micros" = "invoices"."subtotal_micros" - "invoices"."discount_micros" + "invoices"."tax_micros")
);
--> statement-breakpoint
CREATE TABLE "invoice_lines" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"invoice_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"description" text NOT NULL,
	"model" text,
	"quantity" bigint NOT NULL,
	"amount_micros" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invoice_exports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"from_date" date NOT NULL,
	"to_date" date NOT NULL,
	"status" "invoice_export_status" DEFAULT 'pending' NOT NULL,
	"invoice_count" integer,
	"object_key" text,
	"sha256" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "volume_discount_tiers" (
	"account_id" uuid NOT NULL,
	"from_micros" bigint NOT NULL,
	"discount_ppm" integer NOT NULL,
	CONSTRAINT "volume_discount_tiers_account_id_from_micros_pk" PRIMARY KEY("account_id","from_micros"),
	CONSTRAINT "volume_discount_tiers_ppm_range" CHECK ("volume_discount_tiers"."discount_ppm" between 0 and 1000000),
	CONSTRAINT "volume_discount_tiers_from_nonnegative" CHECK ("volume_discount_tiers"."from_micros" >= 0)
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "billing_mode" "billing_mode" DEFAULT 'prepaid' NOT NULL;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "payment_terms_days" integer;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "credit_limit_micros" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD COLUMN "tax_micros" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD COLUMN "tax_rate_ppm" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD COLUMN "tax_jurisdiction" text;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD COLUMN "tax_exempt" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "billing_profiles" ADD CONSTRAINT "billing_profiles_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tax_exemptions" ADD CONSTRAINT "tax_exemptions_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoices" ADD CONSTRAINT "invoices_purchase_id_credit_purchases_id_fk" FOREIGN KEY ("purchase_id") REFERENCES "public"."credit_purchases"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoice_lines" ADD CONSTRAINT "invoice_lines_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "invoice_exports" ADD CONSTRAINT "invoice_exports_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "volume_discount_tiers" ADD CONSTRAINT "volume_discount_tiers_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tax_exemptions_account_idx" ON "tax_exemptions" USING btree ("account_id","uploaded_at");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_number_key" ON "invoices" USING btree ("number");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_year_sequence_key" ON "invoices" USING btree ("issue_year","sequence");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_purchase_key" ON "invoices" USING btree ("purchase_id");--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_statement_period_key" ON "invoices" USING btree ("account_id","period_start") WHERE "invoices"."kind" = 'usage_statement';--> statement-breakpoint
CREATE INDEX "invoices_account_issued_idx" ON "invoices" USING btree ("account_id","issued_at");--> statement-breakpoint
CREATE INDEX "invoices_status_due_idx" ON "invoices" USING btree ("status","due_date");--> statement-breakpoint
CREATE UNIQUE INDEX "invoice_lines_position_key" ON "invoice_lines" USING btree ("invoice_id","position");--> statement-breakpoint
CREATE INDEX "invoice_exports_account_idx" ON "invoice_exports" USING btree ("account_id","created_at");--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_credit_limit_nonnegative" CHECK ("accounts"."credit_limit_micros" >= 0);--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_invoice_terms" CHECK (("accounts"."billing_mode" = 'invoice') = ("accounts"."payment_terms_days" is not null));--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_tax_whole_cents" CHECK ("credit_purchases"."tax_micros" >= 0 and "credit_purchases"."tax_micros" % 10000 = 0);
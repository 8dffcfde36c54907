CREATE TYPE "public"."purchase_kind" AS ENUM('purchase', 'auto_reload');--> statement-breakpoint
CREATE TYPE "public"."purchase_status" AS ENUM('pending', 'requires_action', 'succeeded', 'failed', 'canceled');--> statement-breakpoint
CREATE TABLE "payment_methods" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" uuid NOT NULL,
	"brand" text NOT NULL,
	"last4" text NOT NULL,
	"exp_month" integer NOT NULL,
	"exp_year" integer NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"detached_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "credit_purchases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"kind" "purchase_kind" NOT NULL,
	"request_key" text NOT NULL,
	"amount_micros" bigint NOT NULL,
	"currency" text DEFAULT 'usd' NOT NULL,
	"status" "purchase_status" DEFAULT 'pending' NOT NULL,
	"payment_intent_id" text,
	"charge_id" text,
	"payment_method_id" text,
	"card_brand" text,
	"card_last4" text,
	"failure_code" text,
	"decline_code" text,
	"failure_message" text,
	"refunded_micros" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"succeeded_at" timestamp with time zone,
	CONSTRAINT "credit_purchases_amount_positive" CHECK ("credit_purchases"."amount_micros" > 0),
	CONSTRAINT "credit_purchases_whole_cents" CHECK ("credit_purchases"."amount_micros" % 10000 = 0),
	CONSTRAINT "credit_purchases_refund_bounded" CHECK ("credit_purchases"."refunded_micros" between 0 and "credit_purchases"."amount_micros")
);
--> statement-breakpoint
CREATE TABLE "auto_reload_settings" (
	"account_id" uuid PRIMARY KEY NOT NULL,
	"enabled" boolean DEFAULT false NOT NULL,
	"threshold_micros" bigint NOT NULL,
	"amount_micros" bigint NOT NULL,
	"monthly_cap_micros" bigint,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"paused_at" timestamp with time zone,
	"paused_reason" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stripe_events" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"outcome" text NOT NULL,
	"handled_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "stripe_customer_id" text;--> statement-breakpoint
ALTER TABLE "accounts" ADD COLUMN "disputed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payment_methods" ADD CONSTRAINT "payment_methods_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_purchases" ADD CONSTRAINT "credit_purchases_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auto_reload_settings" ADD CONSTRAINT "auto_reload_settings_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "payment_methods_account_idx" ON "payment_methods" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "payment_methods_one_default_key" ON "payment_methods" USING btree ("account_id") WHERE "payment_methods"."is_default" and "payment_methods"."detached_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "credit_purchases_request_key" ON "credit_purchases" USING btree ("request_key");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_purchases_payment_intent_key" ON "credit_purchases" USING btree ("payment_intent_id");--> statement-breakpoint
CREATE INDEX "credit_purchases_account_idx" ON "credit_purchases" USING btree ("account_id","created_at");--> statement-breakpoint
ALTER TABLE "accounts" ADD CONSTRAINT "accounts_stripe_customer_id_unique" UNIQUE("stripe_customer_id");
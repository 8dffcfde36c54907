CREATE TYPE "public"."account_status" AS ENUM('active', 'suspended', 'closed');--> statement-breakpoint
CREATE TYPE "public"."account_tier" AS ENUM('free', 'developer', 'enterprise');--> statement-breakpoint
CREATE TYPE "public"."ledger_entry_kind" AS ENUM('usage', 'purchase', 'auto_reload', 'grant', 'refund', 'adjustment');--> statement-breakpoint
CREATE TABLE "accounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"billing_email" text NOT NULL,
	"tier" "account_tier" DEFAULT 'free' NOT NULL,
	"status" "account_status" DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_name_not_blank" CHECK (length(trim("accounts"."name")) > 0)
);
--> statement-breakpoint
CREATE TABLE "account_balances" (
	"account_id" uuid NOT NULL,
	"shard" smallint NOT NULL,
	"balance_micros" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "account_balances_pkey" PRIMARY KEY("account_id","shard")
);
--> statement-breakpoint
CREATE TABLE "model_prices" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"model_id" text NOT NULL,
	"version" integer NOT NULL,
	"prompt_micros_per_mtok" bigint NOT NULL,
	"completion_micros_per_mtok" bigint NOT NULL,
	"cached_micros_per_mtok" bigint NOT NULL,
	"reasoning_micros_per_mtok" bigint NOT NULL,
	"effective_from" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_prices_model_version_key" UNIQUE("model_id","version"),
	CONSTRAINT "model_prices_non_negative" CHECK ("model_prices"."prompt_micros_per_mtok" >= 0 and "model_prices"."completion_micros_per_mtok" >= 0 and "model_prices"."cached_micros_per_mtok" >= 0 and "model_prices"."reasoning_micros_per_mtok" >= 0)
);
--> statement-breakpoint
CREATE TABLE "usage_events" (
	"account_id" uuid NOT NULL,
	"event_id" text NOT NULL,
	"api_key_id" text,
	"project_id" text,
	"model_id" text NOT NULL,
	"prompt_tokens" integer NOT NULL,
	"completion_tokens" integer NOT NULL,
	"cached_tokens" integer NOT NULL,
	"reasoning_tokens" integer NOT NULL,
	"cost_micros" bigint NOT NULL,
	"price_version_id" bigint NOT NULL,
	"batch_id" text NOT NULL,
	"metadata" jsonb,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"persisted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_events_pkey" PRIMARY KEY("account_id","event_id"),
	CONSTRAINT "usage_events_cost_non_negative" CHECK ("usage_events"."cost_micros" >= 0)
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"account_id" uuid NOT NULL,
	"kind" "ledger_entry_kind" NOT NULL,
	"amount_micros" bigint NOT NULL,
	"idempotency_key" text NOT NULL,
	"balance_after_micros" bigint,
	"redis_token" text,
	"source" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_entries_idempotency_key_key" UNIQUE("idempotency_key")
);
--> statement-breakpoint
ALTER TABLE "account_balances" ADD CONSTRAINT "account_balances_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "accounts_updated_at_idx" ON "accounts" USING btree ("updated_at");--> statement-breakpoint
CREATE INDEX "usage_events_account_occurred_idx" ON "usage_events" USING btree ("account_id","occurred_at" DESC NULLS LAST,"event_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "ledger_entries_account_created_idx" ON "ledger_entries" USING btree ("account_id","created_at");
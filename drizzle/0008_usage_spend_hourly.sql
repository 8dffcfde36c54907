CREATE TABLE "usage_spend_hourly" (
	"account_id" uuid NOT NULL,
	"hour" timestamp with time zone NOT NULL,
	"shard" smallint NOT NULL,
	"spend_micros" bigint NOT NULL,
	CONSTRAINT "usage_spend_hourly_pkey" PRIMARY KEY("account_id","hour","shard")
);
--> statement-breakpoint
ALTER TABLE "usage_spend_hourly" ADD CONSTRAINT "usage_spend_hourly_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- Hand-written from here. The rollup is kept by a statement trigger on ledger_entries rather than
-- by the usage worker's statement, so every writer of usage debits keeps it, including a worker of
-- the previous version still running while this migrates. One INSERT per statement, whatever the
-- number of rows; rows sorted by account and hour, so two transactions that add to the same rows
-- take their locks in the same order.
--
-- The shard a transaction adds to: the one the usage worker sets for its batch's transaction
-- (billing.usage_shard, the batch's balance shard), so two batches wait on each other's rollup rows
-- only when they would wait on each other's balance rows anyway; for other writers, one chosen by
-- transaction id.
CREATE FUNCTION "usage_rollup_shard"() RETURNS smallint LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('billing.usage_shard', true), '')::smallint,
                  (pg_current_xact_id()::text::bigint % 8)::smallint)
$$;
--> statement-breakpoint
CREATE FUNCTION "usage_spend_hourly_add"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO usage_spend_hourly AS s (account_id, hour, shard, spend_micros)
  SELECT account_id, date_trunc('hour', created_at, 'UTC'), usage_rollup_shard(),
         sum(-amount_micros)
  FROM new_rows WHERE kind = 'usage'
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (account_id, hour, shard) DO UPDATE SET spend_micros = s.spend_micros + excluded.spend_micros;
  RETURN NULL;
END $$;
--> statement-breakpoint
-- Taken before the backfill: the trigger's lock holds back writers of ledger_entries until this
-- migration commits, so each usage row is counted once, by the backfill or by the trigger. The
-- backfill is one pass over the usage ledger rows: on a large ledger, usage batches, grants and
-- purchases wait for it, so migrate at a quiet hour.
CREATE TRIGGER "ledger_entries_usage_spend" AFTER INSERT ON "ledger_entries"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "usage_spend_hourly_add"();
--> statement-breakpoint
INSERT INTO "usage_spend_hourly" (account_id, hour, shard, spend_micros)
SELECT account_id, date_trunc('hour', created_at, 'UTC'), 0, sum(-amount_micros)
FROM "ledger_entries" WHERE kind = 'usage'
GROUP BY 1, 2;

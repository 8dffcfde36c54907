CREATE TABLE "usage_scope_spend_hourly" (
	"account_id" uuid NOT NULL,
	"scope" text NOT NULL,
	"scope_id" text NOT NULL,
	"received_hour" timestamp with time zone NOT NULL,
	"occurred_day" date NOT NULL,
	"shard" smallint NOT NULL,
	"spend_micros" bigint NOT NULL,
	CONSTRAINT "usage_scope_spend_hourly_pkey" PRIMARY KEY("account_id","scope","scope_id","received_hour","occurred_day","shard")
);
--> statement-breakpoint
-- Hand-written from here, as in 0008: kept by a statement trigger on usage_events, so every writer
-- of events keeps it; one INSERT per statement, its rows sorted so that transactions adding to the
-- same rows lock them in the same order. Free events add nothing.
CREATE FUNCTION "usage_scope_spend_add"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO usage_scope_spend_hourly AS s
    (account_id, scope, scope_id, received_hour, occurred_day, shard, spend_micros)
  SELECT account_id, scope, scope_id, date_trunc('hour', received_at, 'UTC'),
         (occurred_at AT TIME ZONE 'UTC')::date, usage_rollup_shard(),
         sum(cost_micros)
  FROM (SELECT account_id, 'api_key' AS scope, api_key_id AS scope_id, received_at, occurred_at, cost_micros
        FROM new_rows WHERE api_key_id IS NOT NULL AND cost_micros > 0
        UNION ALL
        SELECT account_id, 'project', project_id, received_at, occurred_at, cost_micros
        FROM new_rows WHERE project_id IS NOT NULL AND cost_micros > 0) e
  GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
  ON CONFLICT (account_id, scope, scope_id, received_hour, occurred_day, shard)
    DO UPDATE SET spend_micros = s.spend_micros + excluded.spend_micros;
  RETURN NULL;
END $$;
--> statement-breakpoint
-- Before the backfill, for the reason given in 0008. The backfill is one pass over usage_events,
-- during which usage batches wait: on a large table, migrate at a quiet hour.
CREATE TRIGGER "usage_events_scope_spend" AFTER INSERT ON "usage_events"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "usage_scope_spend_add"();
--> statement-breakpoint
INSERT INTO "usage_scope_spend_hourly"
  (account_id, scope, scope_id, received_hour, occurred_day, shard, spend_micros)
SELECT account_id, scope, scope_id, date_trunc('hour', received_at, 'UTC'), (occurred_at AT TIME ZONE 'UTC')::date,
       0, sum(cost_micros)
FROM (SELECT account_id, 'api_key' AS scope, api_key_id AS scope_id, received_at, occurred_at, cost_micros
      FROM "usage_events" WHERE api_key_id IS NOT NULL AND cost_micros > 0
      UNION ALL
      SELECT account_id, 'project', project_id, received_at, occurred_at, cost_micros
      FROM "usage_events" WHERE project_id IS NOT NULL AND cost_micros > 0) e
GROUP BY 1, 2, 3, 4, 5;

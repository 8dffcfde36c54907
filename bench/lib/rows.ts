import { eventCostMicros, TokenPrices } from '@app/money';
import { randomUUID } from 'node:crypto';
import { BenchSql } from './stack';
import { EventShape, UsageTraffic } from './events';

export interface PriceRow extends TokenPrices {
  id: number;
}

export async function loadPrices(sql: BenchSql): Promise<Map<string, PriceRow>> {
  const rows = await sql<
    {
      id: bigint;
      model_id: string;
      prompt_micros_per_mtok: bigint;
      completion_micros_per_mtok: bigint;
      cached_micros_per_mtok: bigint;
      reasoning_micros_per_mtok: bigint;
    }[]
  >`select id, model_id, prompt_micros_per_mtok, completion_micros_per_mtok, cached_micros_per_mtok, reasoning_micros_per_mtok
    from model_prices order by version`;
  return new Map(
    rows.map((row) => [
      row.model_id,
      {
        id: Number(row.id),
        promptMicrosPerMtok: row.prompt_micros_per_mtok,
        completionMicrosPerMtok: row.completion_micros_per_mtok,
        cachedMicrosPerMtok: row.cached_micros_per_mtok,
        reasoningMicrosPerMtok: row.reasoning_micros_per_mtok,
      },
    ]),
  );
}

export function costOf(event: EventShape, price: PriceRow): bigint {
  return eventCostMicros(
    {
      promptTokens: event.prompt,
      completionTokens: event.completion,
      cachedTokens: event.cached,
      reasoningTokens: event.reasoning,
    },
    price,
  );
}

/** Column arrays of one batch of usage_events rows, as the worker's unnest insert sends them. */
export interface RowBatch {
  size: number;
  columns: unknown[][];
  batchId: string;
  receivedAt: Date;
}

export function rowBatch(traffic: UsageTraffic, prices: Map<string, PriceRow>, size: number): RowBatch {
  const now = Date.now();
  const cols: unknown[][] = Array.from({ length: 13 }, () => new Array(size));
  for (let i = 0; i < size; i++) {
    const e = traffic.nextShape(now);
    const price = prices.get(e.model)!;
    cols[0][i] = traffic.accounts[e.accountIndex];
    cols[1][i] = e.id;
    cols[2][i] = e.apiKeyId;
    cols[3][i] = e.projectId;
    cols[4][i] = e.model;
    cols[5][i] = e.prompt;
    cols[6][i] = e.completion;
    cols[7][i] = e.cached;
    cols[8][i] = e.reasoning;
    cols[9][i] = costOf(e, price).toString();
    cols[10][i] = price.id;
    cols[11][i] = e.metadata;
    cols[12][i] = new Date(e.occurredAtMs).toISOString();
  }
  return { size, columns: cols, batchId: randomUUID(), receivedAt: new Date(now) };
}

/** The same set-based insert as the product's UsageBatchRepository, minus dedupe and ledger. */
export async function insertRowBatch(sql: BenchSql, table: string, batch: RowBatch): Promise<void> {
  const c = batch.columns as never[][];
  await sql`
    insert into ${sql(table)} (account_id, event_id, api_key_id, project_id, model_id, prompt_tokens,
      completion_tokens, cached_tokens, reasoning_tokens, cost_micros, price_version_id, batch_id,
      metadata, occurred_at, received_at)
    select t.account_id, t.event_id, t.api_key_id, t.project_id, t.model_id, t.prompt_tokens,
      t.completion_tokens, t.cached_tokens, t.reasoning_tokens, t.cost_micros, t.price_version_id,
      ${batch.batchId}, t.metadata::jsonb, t.occurred_at, ${batch.receivedAt}
    from unnest(
      ${c[0]}::uuid[], ${c[1]}::text[], ${c[2]}::text[], ${c[3]}::text[], ${c[4]}::text[], ${c[5]}::int[],
      ${c[6]}::int[], ${c[7]}::int[], ${c[8]}::int[], ${c[9]}::bigint[], ${c[10]}::bigint[], ${c[11]}::text[],
      ${c[12]}::timestamptz[]
    ) as t(account_id, event_id, api_key_id, project_id, model_id, prompt_tokens, completion_tokens,
           cached_tokens, reasoning_tokens, cost_micros, price_version_id, metadata, occurred_at)`;
}

/**
 * A scratch copy of usage_events with its indexes, checks and whatever foreign keys it has (LIKE
 * does not copy those): the same work per row as the real table.
 */
export async function createScratchTable(sql: BenchSql, table: string): Promise<void> {
  await sql.unsafe(`create table ${table} (like usage_events including all)`);
  const foreignKeys = await sql<{ def: string }[]>`
    select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'usage_events'::regclass and contype = 'f'`;
  for (const { def } of foreignKeys) await sql.unsafe(`alter table ${table} add ${def}`);
}

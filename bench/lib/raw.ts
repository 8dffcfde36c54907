import postgres from 'postgres';
import { UsageTraffic } from './events';
import { createScratchTable, insertRowBatch, PriceRow, rowBatch } from './rows';
import { BenchStack } from './stack';
import { cpuBreakdown, round, timedLoops } from './util';

export interface RawResult {
  rowsPerSecond: number;
  rows: number;
  seconds: number;
  connections: number;
  cpu: ReturnType<typeof cpuBreakdown>;
}

/**
 * The ceiling: the same rows (same generator, batch sizes 100-1,000) inserted with the product's
 * unnest statement into a scratch copy of usage_events (same indexes, checks and foreign keys),
 * from `connections` concurrent loops, as fast as Postgres takes them.
 */
export async function runRawInsert(
  stack: BenchStack,
  traffic: UsageTraffic,
  prices: Map<string, PriceRow>,
  options: { seconds: number; connections: number },
): Promise<RawResult> {
  const table = 'bench_raw';
  await createScratchTable(stack.sql, table);
  const sql = postgres(stack.databaseUrl, {
    max: options.connections,
    types: { bigint: postgres.BigInt },
    onnotice: () => undefined,
  });
  try {
    // Warm the connections and the statement.
    await Promise.all(
      Array.from({ length: options.connections }, () =>
        insertRowBatch(sql, table, rowBatch(traffic, prices, 100)),
      ),
    );
    let rows = 0;
    const { seconds, cpu } = await timedLoops(
      { loops: options.connections, seconds: options.seconds },
      async () => {
        const batch = rowBatch(traffic, prices, traffic.batchSize());
        await insertRowBatch(sql, table, batch);
        rows += batch.size;
      },
      () => stack.cpuLabeler(),
    );
    return {
      rowsPerSecond: round(rows / seconds),
      rows,
      seconds: round(seconds, 2),
      connections: options.connections,
      cpu,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await stack.sql.unsafe(`drop table if exists ${table}`).catch(() => undefined);
  }
}

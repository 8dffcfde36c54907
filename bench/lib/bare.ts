import { throwPipelineErrors } from '@app/redis';
import Redis from 'ioredis';
import postgres from 'postgres';
import { UsageTraffic } from './events';
import { createScratchTable, insertRowBatch, PriceRow, RowBatch, rowBatch } from './rows';
import { BenchStack } from './stack';
import { cpuBreakdown, round, timedLoops } from './util';

export interface BareLoopResult {
  eventsPerSecond: number;
  events: number;
  duplicates: number;
  seconds: number;
  loops: number;
  cpu: ReturnType<typeof cpuBreakdown>;
}

/** Deducts one account's batch total; the key is hash-tagged by account, as the product's are. */
const DEDUCT_LUA = `return redis.call('HINCRBY', KEYS[1], 'micros', ARGV[1])`;

const DEDUPE_SECONDS = 120;

/**
 * The product brief's yardstick for T1 ("a bare loop that only deduplicates and deducts in Redis
 * with Lua and inserts with unnest reaches about 50,000 events/s"), measured in the same run so a
 * slow or fast hour of the machine shows in both: per batch of the same generated rows, one
 * `SET NX EX` per event id (pipelined), one Lua call per account (pipelined), one unnest insert of
 * the fresh rows into a scratch copy of usage_events. No HTTP, no queue, no ledger, no retries,
 * no crash safety: everything the product does beyond it is what the ratio prices.
 */
export async function runBareLoop(
  stack: BenchStack,
  traffic: UsageTraffic,
  prices: Map<string, PriceRow>,
  options: { seconds: number; loops: number; duplicateRate: number },
): Promise<BareLoopResult> {
  const table = 'bench_bare';
  const keyPrefix = `${stack.prefix}:bare`;
  await createScratchTable(stack.sql, table);
  const sql = postgres(stack.databaseUrl, {
    max: options.loops,
    types: { bigint: postgres.BigInt },
    onnotice: () => undefined,
  });
  const redis = new Redis(stack.config.redisUrl, { maxRetriesPerRequest: 2 });
  redis.defineCommand('bareDeduct', { numberOfKeys: 1, lua: DEDUCT_LUA });
  const deduct = (pipeline: ReturnType<Redis['pipeline']>, key: string, micros: bigint) =>
    (pipeline as unknown as { bareDeduct(key: string, micros: string): void }).bareDeduct(
      key,
      (-micros).toString(),
    );

  const runBatch = async (batch: RowBatch): Promise<{ fresh: number; duplicates: number }> => {
    const [accounts, ids, costs] = [batch.columns[0], batch.columns[1], batch.columns[9]] as [
      string[],
      string[],
      string[],
    ];
    const marks = redis.pipeline();
    for (let i = 0; i < batch.size; i++)
      marks.set(`${keyPrefix}:seen:{${accounts[i]}}:${ids[i]}`, '1', 'EX', DEDUPE_SECONDS, 'NX');
    const fresh: number[] = [];
    throwPipelineErrors(await marks.exec()).forEach((reply, index) => reply === 'OK' && fresh.push(index));
    const debits = new Map<string, bigint>();
    for (const i of fresh) debits.set(accounts[i], (debits.get(accounts[i]) ?? 0n) + BigInt(costs[i]));
    const deductions = redis.pipeline();
    for (const [account, micros] of debits) deduct(deductions, `${keyPrefix}:acct:{${account}}:b`, micros);
    throwPipelineErrors(await deductions.exec());
    if (fresh.length > 0)
      await insertRowBatch(sql, table, {
        ...batch,
        size: fresh.length,
        columns: batch.columns.map((column) => fresh.map((i) => column[i])),
      });
    return { fresh: fresh.length, duplicates: batch.size - fresh.length };
  };

  // Ids sent before, repeated at the pipeline's rate so the dedupe step drops some, as it does there.
  const recent: Array<[string, string]> = [];
  const nextBatch = (size: number): RowBatch => {
    const batch = rowBatch(traffic, prices, size);
    const [accounts, ids] = batch.columns as [string[], string[]];
    for (let i = 0; i < batch.size; i++) {
      if (recent.length >= 1000 && Math.random() < options.duplicateRate) {
        [accounts[i], ids[i]] = recent[Math.floor(Math.random() * recent.length)];
      } else if (recent.length < 10_000) recent.push([accounts[i], ids[i]]);
      else recent[Math.floor(Math.random() * recent.length)] = [accounts[i], ids[i]];
    }
    return batch;
  };

  try {
    await Promise.all(Array.from({ length: options.loops }, () => runBatch(nextBatch(100))));
    let events = 0;
    let duplicates = 0;
    const { seconds, cpu } = await timedLoops(
      options,
      async () => {
        const counts = await runBatch(nextBatch(traffic.batchSize()));
        events += counts.fresh;
        duplicates += counts.duplicates;
      },
      () => stack.cpuLabeler(),
    );
    return {
      eventsPerSecond: round(events / seconds),
      events,
      duplicates,
      seconds: round(seconds, 2),
      loops: options.loops,
      cpu,
    };
  } finally {
    redis.disconnect();
    await sql.end({ timeout: 5 });
    await stack.deleteKeys(`${keyPrefix}:*`).catch(() => undefined);
    await stack.sql.unsafe(`drop table if exists ${table}`).catch(() => undefined);
  }
}

import { BALANCE_SHARDS } from '@app/db';
import { rawDatabaseHandle, TestSql, TestStores } from '../../../test/support/test-stores';
import { BalanceRepository } from './balance-repository';

/** What a balance that Redis lost is rebuilt from, read from a real, migrated Postgres. */
describe('BalanceRepository.seedsOf', () => {
  const stores = new TestStores();
  let sql: TestSql;
  let repository: BalanceRepository;

  beforeAll(async () => {
    await stores.setUp();
    sql = stores.sql;
    repository = new BalanceRepository(rawDatabaseHandle(sql));
  });

  afterAll(() => stores.tearDown());

  async function accountWithShards(shardMicros: bigint[]): Promise<string> {
    const [{ id }] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email) values ('seeded', 'billing@example.com') returning id`;
    const amounts = Array.from({ length: BALANCE_SHARDS }, (_, shard) =>
      (shardMicros[shard] ?? 0n).toString(),
    );
    await sql`
      insert into account_balances (account_id, shard, balance_micros)
      select ${id}, s.shard - 1, s.amount from unnest(${amounts}::bigint[]) with ordinality as s(amount, shard)`;
    return id;
  }

  /** Usage ledger rows as the usage worker writes them; `crossings` name their auto-reload crossing. */
  async function usageRows(accountId: string, count: number, crossings: Map<number, number> = new Map()) {
    await sql`
      insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token)
      select ${accountId}, 'usage', -1, 'usage:' || gen_random_uuid() || ':' || ${accountId},
             gen_random_uuid()::text || coalesce('#' || c.crossing, '')
      from generate_series(1, ${count}::int) as n
      left join unnest(${[...crossings.keys()]}::int[], ${[...crossings.values()]}::int[]) as c(row_number, crossing)
        on c.row_number = n`;
  }

  it('seeds the sum of the shards and the highest crossing committed, compared as numbers', async () => {
    const accountId = await accountWithShards([7_000_000n, -1_500_000n, 0n, 250n]);
    // Crossings 2, 11 and 3 among 3,000 usage rows without one: 11 is the last, though "3" > "11" as text.
    await usageRows(
      accountId,
      3_000,
      new Map([
        [10, 2],
        [1_500, 11],
        [2_990, 3],
      ]),
    );

    const seeds = await repository.seedsOf([accountId]);

    expect(seeds.get(accountId)).toEqual({ balance: 5_500_250n, reloads: '11' });
  });

  it('seeds 0 crossings for an account that never crossed, and nothing for an account without balance rows', async () => {
    const neverCrossed = await accountWithShards([42n]);
    await usageRows(neverCrossed, 50);
    const [{ id: withoutBalance }] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email) values ('no balance', 'billing@example.com') returning id`;

    const seeds = await repository.seedsOf([neverCrossed, withoutBalance]);

    expect([...seeds]).toEqual([[neverCrossed, { balance: 42n, reloads: '0' }]]);
  });
});

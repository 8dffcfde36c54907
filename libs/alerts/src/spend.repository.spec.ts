import { MAX_CLOCK_SKEW_MS, MAX_EVENT_AGE_MS } from '@app/queue';
import { Tx } from '@app/db';
import { insertStoredEvents, StoredEvent, TestSql, TestStores } from '../../../test/support/test-stores';
import { DAY_MS, monthPeriodOf } from './projections';
import { BudgetScope, hourAfter, SpendRepository, UsageTotals } from './spend.repository';

/** A fixed pseudo-random sequence (mulberry32): the same history on every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The spend of a key's or project's budget (its Redis counter's seed, and the spend API) counts
 * events by received_at. It reads their hourly rollup (usage_scope_spend_hourly, kept by a trigger
 * on usage_events): no event received in the month may fall out, however early or late it occurred.
 */
describe('SpendRepository.scopeSpend', () => {
  const stores = new TestStores();
  const repository = new SpendRepository();
  const period = monthPeriodOf(new Date('2026-11-15T12:00:00Z'));
  let sql: TestSql;
  let accountId: string;

  beforeAll(async () => {
    await stores.setUp();
    sql = stores.sql;
    [{ id: accountId }] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email) values ('spender', 'billing@example.com') returning id`;
  });

  afterAll(() => stores.tearDown());

  let nextEvent = 0;
  async function event(costMicros: number, receivedAt: Date, occurredAt: Date, scope: BudgetScope) {
    nextEvent++;
    await insertStoredEvents(sql, [
      {
        accountId,
        eventId: `evt-${nextEvent}`,
        apiKeyId: scope === 'api_key' ? 'key-1' : null,
        projectId: scope === 'project' ? 'project-1' : null,
        costMicros,
        occurredAt,
        receivedAt,
      },
    ]);
  }

  it.each<[BudgetScope, string]>([
    ['api_key', 'key-1'],
    ['project', 'project-1'],
  ])(
    'counts every %s event received in the month, however late or early its occurred_at',
    async (scope, scopeId) => {
      const { start, end } = period;
      const lastInstant = new Date(end.getTime() - 1);
      // Received at the month's first instant, occurred as long before as ingest accepts.
      await event(1, start, new Date(start.getTime() - MAX_EVENT_AGE_MS), scope);
      // Received at its last instant, occurred as far ahead as ingest accepts.
      await event(20, lastInstant, new Date(lastInstant.getTime() + MAX_CLOCK_SKEW_MS), scope);
      await event(300, new Date('2026-11-10T00:00:00Z'), new Date('2026-11-09T23:59:00Z'), scope);
      // Received in the months around it: not this month's spend, whenever they occurred.
      await event(4_000, new Date(start.getTime() - 1), new Date(start.getTime() - 1), scope);
      await event(50_000, end, new Date(end.getTime() - 60_000), scope);

      expect(await repository.scopeSpend(sql, accountId, scope, scopeId, period)).toBe(321n);
    },
  );

  it('equals the sum of the events received in the month, for random histories of keys and projects', async () => {
    const random = seeded(7);
    const from = Date.parse('2026-09-20T00:00:00Z');
    const rows: StoredEvent[] = Array.from({ length: 800 }, (_, i) => {
      const received = from + Math.floor(random() * 100 * DAY_MS);
      // Anywhere ingest accepts: up to 35 days before received_at, up to 5 minutes after it.
      const occurred =
        received - MAX_EVENT_AGE_MS + Math.floor(random() * (MAX_EVENT_AGE_MS + MAX_CLOCK_SKEW_MS));
      return {
        accountId,
        eventId: `random-${i}`,
        apiKeyId: random() < 0.8 ? `key-${1 + Math.floor(random() * 2)}` : null,
        projectId: random() < 0.5 ? `project-${1 + Math.floor(random() * 2)}` : null,
        costMicros: random() < 0.1 ? 0 : 1 + Math.floor(random() * 9_000_000),
        occurredAt: new Date(occurred),
        receivedAt: new Date(received),
      };
    });
    // In statements of several rows, as batches are written; each written again, costing more,
    // as a redelivered batch or a resent event is: stored events are skipped and add nothing.
    const costlier = (chunk: StoredEvent[]) =>
      chunk.map((row) => ({ ...row, costMicros: row.costMicros + 1 }));
    for (let i = 0; i < rows.length; i += 50) {
      await insertStoredEvents(sql, rows.slice(i, i + 50));
      await insertStoredEvents(sql, costlier(rows.slice(Math.max(0, i - 25), i + 25)));
    }
    for (const month of ['2026-09-15', '2026-10-15', '2026-11-15', '2026-12-15']) {
      const period = monthPeriodOf(new Date(month));
      for (const [scope, column, scopeId] of [
        ['api_key', 'api_key_id', 'key-2'],
        ['project', 'project_id', 'project-2'],
      ] as const) {
        const [{ total }] = await sql<{ total: bigint }[]>`
          select coalesce(sum(cost_micros), 0)::bigint as total from usage_events
          where account_id = ${accountId} and ${sql(column)} = ${scopeId}
            and received_at >= ${period.start} and received_at < ${period.end}`;
        const spend = await repository.scopeSpend(sql, accountId, scope, scopeId, period);
        expect({ month, scope, spend }).toEqual({ month, scope, spend: total });
      }
    }
  });
});

/**
 * The account's spend (month to date, 24 h, 7 days, budget seeds) reads the hourly rollup that a
 * trigger keeps on every ledger insert, plus the ledger for the hour a window starts in. Checked
 * against the sums of the ledger rows themselves, as they were read before the rollup existed.
 */
describe('SpendRepository over the hourly usage rollup', () => {
  const stores = new TestStores();
  const repository = new SpendRepository();
  let sql: TestSql;
  let accountIds: string[];

  beforeAll(async () => {
    await stores.setUp();
    sql = stores.sql;
    accountIds = (
      await sql<{ id: string }[]>`
        insert into accounts (name, billing_email)
        values ('busy', 'a@example.com'), ('quiet', 'b@example.com'), ('concurrent', 'c@example.com')
        returning id`
    ).map((row) => row.id);
  });

  afterAll(() => stores.tearDown());

  interface Debit {
    accountId: string;
    micros: number;
    at: Date;
  }

  let nextKey = 0;
  /** Usage debits in one statement, as the usage worker writes a batch (created_at chosen here). */
  async function debit(rows: readonly Debit[], client: TestSql | Tx = sql) {
    const keys = rows.map(() => `usage:test-${++nextKey}`);
    await client`
      insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, created_at)
      select account_id, 'usage', -micros, key, created_at
      from unnest(${rows.map((row) => row.accountId)}::uuid[], ${rows.map((row) => row.micros)}::bigint[],
                  ${keys}::text[], ${rows.map((row) => row.at.toISOString())}::timestamptz[])
           as t(account_id, micros, key, created_at)`;
  }

  /** The oracle: the same totals summed over every usage ledger row in the windows. */
  async function ledgerTotals(accountId: string, now: Date): Promise<UsageTotals> {
    const [row] = await sql<{ balance: bigint; mtd: bigint; d1: bigint; d7: bigint }[]>`
      select
        (select coalesce(sum(balance_micros), 0)::bigint from account_balances where account_id = ${accountId}) as balance,
        coalesce(sum(-amount_micros) filter (where created_at >= ${monthPeriodOf(now).start}), 0)::bigint as mtd,
        coalesce(sum(-amount_micros) filter (where created_at > ${new Date(now.getTime() - DAY_MS)}), 0)::bigint as d1,
        coalesce(sum(-amount_micros) filter (where created_at > ${new Date(now.getTime() - 7 * DAY_MS)}), 0)::bigint as d7
      from ledger_entries where account_id = ${accountId} and kind = 'usage'`;
    return {
      balanceMicros: row.balance,
      balanceFloorMicros: 0n,
      monthToDateMicros: row.mtd,
      usageLast24hMicros: row.d1,
      usageLast7dMicros: row.d7,
    };
  }

  it("gives the ledger rows' sums to the micro at every window edge and at arbitrary instants", async () => {
    const [busy, quiet] = accountIds;
    const random = seeded(42);
    const nows = [
      '2026-11-15T12:00:00.000Z', // window starts on an hour boundary
      '2026-11-15T12:34:56.789Z',
      '2026-12-01T00:00:00.000Z', // a month's first instant
      '2026-12-01T00:00:00.001Z',
      '2026-11-30T23:59:59.999Z',
      '2026-12-07T23:00:00.000Z', // the 7-day window starts on the month's first instant
    ].map((at) => new Date(at));
    for (let i = 0; i < 6; i++)
      nows.push(new Date(Date.parse('2026-11-20T00:00:00Z') + random() * 20 * DAY_MS));

    const edges: Date[] = [];
    for (const now of nows) {
      const month = monthPeriodOf(now).start.getTime();
      const starts = [now.getTime() - DAY_MS, now.getTime() - 7 * DAY_MS];
      for (const at of [
        month,
        now.getTime(),
        ...starts,
        ...starts.map((t) => hourAfter(new Date(t)).getTime()),
      ]) {
        edges.push(new Date(at - 1), new Date(at), new Date(at + 1));
      }
    }
    const history: Debit[] = edges.map((at, i) => ({
      accountId: i % 3 === 0 ? quiet : busy,
      micros: 1 + i,
      at,
    }));
    const from = Date.parse('2026-10-01T00:00:00Z');
    for (let i = 0; i < 600; i++) {
      const at = new Date(from + Math.floor(random() * 70 * DAY_MS));
      history.push({
        accountId: random() < 0.8 ? busy : quiet,
        micros: 1 + Math.floor(random() * 5_000_000),
        at,
      });
    }
    // In statements of many rows and hours, and several statements in one transaction (one shard).
    for (let i = 0; i < history.length; i += 37) {
      const chunk = history.slice(i, i + 37);
      if (i % 2 === 0) await debit(chunk);
      else
        await sql.begin(async (tx) => {
          // The trigger buckets by UTC hour whatever the session's time zone (India is UTC+5:30).
          await tx`set local time zone 'Asia/Kolkata'`;
          await debit(chunk.slice(0, 20), tx);
          await debit(chunk.slice(20), tx);
        });
    }

    for (const now of nows) {
      const totals = await repository.usageTotals(sql, [busy, quiet], now);
      expect({ now, busy: totals.get(busy) }).toEqual({ now, busy: await ledgerTotals(busy, now) });
      expect({ now, quiet: totals.get(quiet) }).toEqual({ now, quiet: await ledgerTotals(quiet, now) });
      const period = monthPeriodOf(now);
      const [{ month }] = await sql<{ month: bigint }[]>`
        select coalesce(sum(-amount_micros), 0)::bigint as month from ledger_entries
        where account_id = ${busy} and kind = 'usage' and created_at >= ${period.start} and created_at < ${period.end}`;
      expect(await repository.scopeSpend(sql, busy, 'account', null, period)).toBe(month);
    }
    // Every hour holds exactly its debits (the edges above put some on both sides of each boundary).
    const hours = await sql<{ account_id: string; hour: Date; rollup: bigint; ledger: bigint }[]>`
      select account_id, hour, r.spend as rollup, coalesce(l.spend, 0)::bigint as ledger
      from (select account_id, hour, sum(spend_micros)::bigint as spend from usage_spend_hourly group by 1, 2) r
      full join (select account_id, date_trunc('hour', created_at, 'UTC') as hour, sum(-amount_micros)::bigint as spend
                 from ledger_entries where kind = 'usage' group by 1, 2) l using (account_id, hour)
      where r.spend is distinct from l.spend`;
    expect(hours).toEqual([]);
  });

  it('reads the balance floor: 0 on prepaid, -credit limit on invoice billing', async () => {
    const [prepaid] = accountIds;
    const [{ id: invoiced }] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email, tier, billing_mode, payment_terms_days, credit_limit_micros,
                            invoice_billing_since)
      values ('invoiced', 'd@example.com', 'enterprise', 'invoice', 30, 250000000, now())
      returning id`;
    const totals = await repository.usageTotals(sql, [prepaid, invoiced], new Date());
    expect(totals.get(prepaid)?.balanceFloorMicros).toBe(0n);
    expect(totals.get(invoiced)?.balanceFloorMicros).toBe(-250_000_000n);
  });

  it('loses no addition when concurrent transactions add to the same hour, and keeps none rolled back', async () => {
    const accountId = accountIds[2];
    const hour = Date.parse('2026-11-20T10:00:00Z');
    let committed = 0n;
    await Promise.all(
      Array.from({ length: 8 }, (_, worker) =>
        (async () => {
          for (let i = 0; i < 25; i++) {
            const micros = 1_000 * worker + i + 1;
            const rollBack = i % 5 === 4;
            await sql
              .begin(async (tx) => {
                await debit([{ accountId, micros, at: new Date(hour + worker * 60_000 + i) }], tx);
                if (rollBack) throw new Error('rolled back');
              })
              .catch((error: Error) => {
                if (error.message !== 'rolled back') throw error;
              });
            if (!rollBack) committed += BigInt(micros);
          }
        })(),
      ),
    );
    const [row] = await sql<{ spend: bigint; shards: number }[]>`
      select sum(spend_micros)::bigint as spend, count(distinct shard)::int as shards from usage_spend_hourly
      where account_id = ${accountId} and hour = ${new Date(hour)}`;
    expect(row.spend).toBe(committed);
    // Spread over shards, not all on one row.
    expect(row.shards).toBeGreaterThan(1);
    const period = monthPeriodOf(new Date(hour));
    expect(await repository.scopeSpend(sql, accountId, 'account', null, period)).toBe(committed);
  });
});

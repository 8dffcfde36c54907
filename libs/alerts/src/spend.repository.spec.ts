import { MAX_CLOCK_SKEW_MS, MAX_EVENT_AGE_MS } from '@app/usage';
import { TestSql, TestStores } from '../../../test/support/test-stores';
import { monthPeriodOf } from './projections';
import { BudgetScope, SpendRepository } from './spend.repository';

/**
 * The spend of a key's or project's budget (its Redis counter's seed, and the spend API) counts
 * events by received_at. The query also bounds occurred_at by what ingest accepts, so it reads an
 * index range instead of all the account's events: no event received in the month may fall out.
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
    await sql`
      insert into usage_events (account_id, event_id, api_key_id, project_id, model_id, prompt_tokens,
        completion_tokens, cached_tokens, reasoning_tokens, cost_micros, price_version_id, batch_id,
        occurred_at, received_at)
      values (${accountId}, ${`evt-${nextEvent}`}, ${scope === 'api_key' ? 'key-1' : null},
        ${scope === 'project' ? 'project-1' : null}, 'model', 1, 1, 0, 0, ${costMicros}, 1, 'batch',
        ${occurredAt}, ${receivedAt})`;
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
});

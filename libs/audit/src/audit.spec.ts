import { rawDatabaseHandle, TestSql, TestStores } from '../../../test/support/test-stores';
import { AuditEntry } from './audit-entry';
import { AuditLogService } from './audit-log.service';
import { InvalidCursorError } from '@app/db';
import { AuditQueryService } from './audit-query.service';
import { AuditRetention, DEFAULT_AUDIT_RETENTION } from './audit-retention';
import { PruneAuditLogService } from './prune-audit-log.service';

const DAY_MS = 86_400_000;

/** libs/audit against a real, migrated Postgres database of this suite's own. */
describe('audit log', () => {
  const stores = new TestStores();
  let sql: TestSql;

  beforeAll(async () => {
    await stores.setUp();
    sql = stores.sql;
  });

  afterAll(() => stores.tearDown());

  async function createAccount(tier: 'free' | 'developer' | 'enterprise'): Promise<string> {
    const [row] = await sql<{ id: string }[]>`
      insert into accounts (name, billing_email, tier) values (${`acct ${tier}`}, 'billing@example.com', ${tier})
      returning id`;
    return row.id;
  }

  async function insertAt(accountId: string, createdAt: Date, action = 'settings.changed'): Promise<string> {
    const [row] = await sql<{ id: string }[]>`
      insert into audit_log (account_id, actor_type, action, target_type, created_at)
      values (${accountId}, 'system', ${action}, 'account', ${createdAt})
      returning id::text as id`;
    return row.id;
  }

  async function idsOf(accountId: string): Promise<string[]> {
    const rows = await sql<{ id: string }[]>`
      select id::text as id from audit_log where account_id = ${accountId} order by id`;
    return rows.map((row) => row.id);
  }

  function entry(accountId: string, overrides: Partial<AuditEntry> = {}): AuditEntry {
    return {
      accountId,
      actor: { type: 'admin', id: null, ip: '203.0.113.7' },
      action: 'credits.granted',
      targetType: 'account',
      targetId: accountId,
      before: null,
      after: { amount_micros: 5_000_000n },
      ...overrides,
    };
  }

  describe('AuditLogService', () => {
    const sut = new AuditLogService();

    it('writes nothing when the caller’s transaction rolls back', async () => {
      const accountId = await createAccount('free');
      await expect(
        sql.begin(async (tx) => {
          await sut.record(tx, entry(accountId));
          throw new Error('change failed');
        }),
      ).rejects.toThrow('change failed');
      expect(await idsOf(accountId)).toEqual([]);
    });

    it('commits the row with the caller’s transaction', async () => {
      const accountId = await createAccount('free');
      await sql.begin((tx) => sut.record(tx, entry(accountId)));
      const [row] = await sql`
        select actor_type, actor_id, action, target_type, target_id, before, after, source_ip
        from audit_log where account_id = ${accountId}`;
      expect(row).toEqual({
        actor_type: 'admin',
        actor_id: null,
        action: 'credits.granted',
        target_type: 'account',
        target_id: accountId,
        before: null,
        after: { amount_micros: '5000000' },
        source_ip: '203.0.113.7',
      });
    });

    it('stores bigints as decimal strings and drops secret-named properties at any depth', async () => {
      const accountId = await createAccount('developer');
      await sut.record(
        sql,
        entry(accountId, {
          action: 'api_key.created',
          before: { balance_micros: 9_007_199_254_740_993n, key: 'sk-live-abc' },
          after: {
            id: 'key_1',
            name: 'ci',
            secret: 's',
            secret_hash: 'h',
            secretHash: 'h2',
            token: 't',
            password: 'p',
            scopes: ['usage:write', 'key'],
            nested: { limits: [{ daily_micros: 123n, token: 'x' }], keep: true },
          },
        }),
      );
      const [row] = await sql`select before, after from audit_log where account_id = ${accountId}`;
      expect(row.before).toEqual({ balance_micros: '9007199254740993' });
      expect(row.after).toEqual({
        id: 'key_1',
        name: 'ci',
        scopes: ['usage:write', 'key'],
        nested: { limits: [{ daily_micros: '123' }], keep: true },
      });
    });

    it('records several entries in one statement', async () => {
      const accountId = await createAccount('free');
      await sql.begin((tx) =>
        sut.recordMany(tx, [
          entry(accountId, { action: 'member.added', before: null }),
          entry(accountId, {
            action: 'member.role_changed',
            actor: { type: 'api_key', id: 'key_9', ip: null },
            before: { role: 'member' },
            after: { role: 'admin' },
          }),
        ]),
      );
      const rows = await sql`
        select action, actor_type, actor_id, before, after from audit_log where account_id = ${accountId} order by id`;
      expect(rows).toEqual([
        {
          action: 'member.added',
          actor_type: 'admin',
          actor_id: null,
          before: null,
          after: { amount_micros: '5000000' },
        },
        {
          action: 'member.role_changed',
          actor_type: 'api_key',
          actor_id: 'key_9',
          before: { role: 'member' },
          after: { role: 'admin' },
        },
      ]);
    });
  });

  describe('AuditQueryService', () => {
    const sut = () => new AuditQueryService(rawDatabaseHandle(sql));
    const base = Date.parse('2030-06-01T12:00:00.000Z');
    let accountId: string;
    /** Ids newest first, as list must return them. */
    let expected: string[];

    beforeAll(async () => {
      accountId = await createAccount('enterprise');
      const other = await createAccount('enterprise');
      await insertAt(other, new Date(base), 'credits.granted');
      const ids: string[] = [];
      for (let minute = 0; minute < 5; minute++) {
        ids.push(
          await insertAt(
            accountId,
            new Date(base + minute * 60_000),
            minute % 2 ? 'key.revoked' : 'credits.granted',
          ),
        );
      }
      // Two rows of one transaction share created_at; id breaks the tie.
      ids.push(await insertAt(accountId, new Date(base + 5 * 60_000), 'credits.granted'));
      ids.push(await insertAt(accountId, new Date(base + 5 * 60_000), 'credits.granted'));
      expected = ids.reverse();
    });

    it('lists the account’s entries newest first in the API shape', async () => {
      const page = await sut().list({ accountId, limit: 1000 });
      expect(page.entries.map((e) => e.id)).toEqual(expected);
      expect(page.next_cursor).toBeNull();
      expect(page.entries[0]).toEqual({
        id: expected[0],
        action: 'credits.granted',
        actor: { type: 'system', id: null },
        target: { type: 'account', id: null },
        before: null,
        after: null,
        source_ip: null,
        created_at: '2030-06-01T12:05:00.000Z',
      });
    });

    it('pages with the cursor without skipping or repeating a row', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await sut().list({ accountId, limit: 2, cursor });
        seen.push(...page.entries.map((e) => e.id));
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor);
      expect(seen).toEqual(expected);
      expect(pages).toBe(4);
    });

    it('filters by action', async () => {
      const page = await sut().list({ accountId, limit: 100, action: 'key.revoked' });
      expect(page.entries.map((e) => e.created_at)).toEqual([
        '2030-06-01T12:03:00.000Z',
        '2030-06-01T12:01:00.000Z',
      ]);
    });

    it('filters by from (inclusive) and to (exclusive)', async () => {
      const page = await sut().list({
        accountId,
        limit: 100,
        from: new Date(base + 60_000),
        to: new Date(base + 3 * 60_000),
      });
      expect(page.entries.map((e) => e.created_at)).toEqual([
        '2030-06-01T12:02:00.000Z',
        '2030-06-01T12:01:00.000Z',
      ]);
    });

    it.each([
      'not-a-cursor!',
      Buffer.from('{"a":1}').toString('base64url'),
      Buffer.from('["2030-06-01T12:00:00Z", 5]').toString('base64url'),
      Buffer.from('["yesterday", "5"]').toString('base64url'),
      Buffer.from('["2030-06-01T12:00:00Z", "5; drop table"]').toString('base64url'),
    ])('rejects the cursor %p', async (cursor) => {
      await expect(sut().list({ accountId, limit: 10, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
    });

    it('rejects a limit outside 1..1000', async () => {
      await expect(sut().list({ accountId, limit: 0 })).rejects.toBeInstanceOf(RangeError);
      await expect(sut().list({ accountId, limit: 1001 })).rejects.toBeInstanceOf(RangeError);
    });
  });

  describe('PruneAuditLogService', () => {
    const now = new Date('2030-01-01T00:00:00.000Z');
    const daysAgo = (days: number) => new Date(now.getTime() - days * DAY_MS);
    const sut = (retention: AuditRetention = DEFAULT_AUDIT_RETENTION, batchSize?: number) =>
      new PruneAuditLogService(rawDatabaseHandle(sql), retention, batchSize);

    // prune acts on the whole table, so each case starts from an empty log.
    beforeEach(() => sql`truncate audit_log`);

    it('deletes only rows older than the retention of each account’s tier', async () => {
      const ages = { free: [29, 31], developer: [89, 91], enterprise: [399, 401] } as const;
      const kept: Record<string, string[]> = {};
      for (const tier of ['free', 'developer', 'enterprise'] as const) {
        const accountId = await createAccount(tier);
        kept[accountId] = [await insertAt(accountId, daysAgo(ages[tier][0]))];
        await insertAt(accountId, daysAgo(ages[tier][1]));
      }
      expect(await sut().prune(now)).toEqual({ deleted: 3 });
      for (const [accountId, ids] of Object.entries(kept)) expect(await idsOf(accountId)).toEqual(ids);
    });

    it('keeps a row exactly at the retention boundary', async () => {
      const accountId = await createAccount('free');
      const id = await insertAt(accountId, daysAgo(30));
      expect(await sut().prune(now)).toEqual({ deleted: 0 });
      expect(await idsOf(accountId)).toEqual([id]);
    });

    it('applies a configured enterprise retention', async () => {
      const accountId = await createAccount('enterprise');
      const young = await insertAt(accountId, daysAgo(179));
      await insertAt(accountId, daysAgo(181));
      const retention = { ...DEFAULT_AUDIT_RETENTION, enterpriseDays: 180 };
      expect(await sut(retention).prune(now)).toEqual({ deleted: 1 });
      expect(await idsOf(accountId)).toEqual([young]);
    });

    it('uses the account’s current tier, not the one it had when the row was written', async () => {
      const accountId = await createAccount('free');
      const id = await insertAt(accountId, daysAgo(60));
      await sql`update accounts set tier = 'developer' where id = ${accountId}`;
      expect(await sut().prune(now)).toEqual({ deleted: 0 });
      expect(await idsOf(accountId)).toEqual([id]);
    });

    it('works through a backlog larger than one batch', async () => {
      const accountId = await createAccount('free');
      for (let i = 0; i < 10; i++) await insertAt(accountId, daysAgo(40 + i));
      const young = await insertAt(accountId, daysAgo(1));
      let statements = 0;
      const counting = new Proxy(sql, {
        apply: (target, self, args: unknown[]) => {
          statements++;
          return Reflect.apply(target, self, args) as unknown;
        },
      });
      const batched = new PruneAuditLogService(rawDatabaseHandle(counting), DEFAULT_AUDIT_RETENTION, 3);
      expect(await batched.prune(now)).toEqual({ deleted: 10 });
      // 3 + 3 + 3 + 1: the short last batch ends the loop.
      expect(statements).toBe(4);
      expect(await idsOf(accountId)).toEqual([young]);
    });

    it('refuses a retention below one day', () => {
      expect(() => sut({ ...DEFAULT_AUDIT_RETENTION, freeDays: 0 })).toThrow(/freeDays/);
    });
  });
});

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { JsonResponse } from '../support/api-client';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { scanKeys } from '../support/store-snapshot';
import { waitFor } from '../support/wait-for';
import { CreatedKey, Workspace } from '../support/workspace';

/** $1.00 per million tokens of every kind: an event costs one micro per token. */
const PAID_MODEL = 'openai/gpt-4o-mini';
const FREE_MODEL = 'meta-llama/llama-3.1-8b-instruct:free';
const DAY = 86_400_000;
const KEY_FORMAT = /^bk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

// UTC periods, computed here independently of the product.
const dayStart = (ms: number) => Math.floor(ms / DAY) * DAY;
/** Monday 00:00 UTC of the ISO week containing `ms`. */
const weekStart = (ms: number) => dayStart(ms) - ((new Date(ms).getUTCDay() + 6) % 7) * DAY;
const monthStart = (ms: number, monthsLater = 0) =>
  Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth() + monthsLater, 1);
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Key limits count per UTC period and authorize looks at the period of "now": a test that
 * straddled a midnight would change period halfway. If the day is about to change, wait (on the
 * clock) until it has.
 */
async function clearOfUtcMidnight(marginMs = 120_000): Promise<void> {
  const midnight = dayStart(Date.now()) + DAY;
  if (midnight - Date.now() >= marginMs) return;
  await waitFor(
    () => Date.now(),
    (now) => now >= midnight + 1000,
    { timeoutMs: marginMs + 10_000, intervalMs: 500, what: 'the UTC day to change' },
  );
}

describe('API keys: credit limits, revocation and secrets', () => {
  // Caches reload every second even without a change notice (a revocation whose notice was lost).
  const stack = new BillingStack({ workers: 1, env: { CATALOG_RESYNC_MS: '1000' } });

  const authorize = (ws: Workspace, keyId?: string, model = PAID_MODEL) =>
    stack.gateway.post('/v1/authorize', {
      account_id: ws.accountId,
      model,
      ...(keyId === undefined ? {} : { api_key_id: keyId }),
    });
  const getKey = async (ws: Workspace, keyId: string) => {
    const response = await stack.admin.get(`${ws.path}/api-keys/${keyId}`);
    expect(response.status).toBe(200);
    return response.body;
  };
  const usageEvent = (ws: Workspace, keyId: string | undefined, micros: number, occurredAt?: number) => ({
    id: randomUUID(),
    account_id: ws.accountId,
    model: PAID_MODEL,
    prompt_tokens: micros,
    completion_tokens: 0,
    ...(keyId === undefined ? {} : { api_key_id: keyId }),
    ...(occurredAt === undefined ? {} : { occurred_at: iso(occurredAt) }),
  });
  const ingest = (events: unknown[]) => stack.gateway.post('/v1/usage/events', { events });
  /** Usage made with a key, `micros` worth, at `occurredAt` (default now); waits until it is persisted. */
  const spend = async (ws: Workspace, keyId: string, micros: number, occurredAt?: number) => {
    const response = await ingest([usageEvent(ws, keyId, micros, occurredAt)]);
    expect({ status: response.status, body: response.body }).toEqual({
      status: 202,
      body: { accepted: 1, duplicates: 0 },
    });
    await stack.drained();
  };
  const developerWithCredits = async () => {
    const ws = await Workspace.create(stack, 'developer');
    await stack.grant(ws.accountId, '10.00');
    return ws;
  };
  const expectAllowed = (response: JsonResponse, balance: string) =>
    expect({ status: response.status, body: response.body }).toEqual({
      status: 200,
      body: { allowed: true, balance },
    });
  const expectOverLimit = (
    response: JsonResponse,
    expected: { balance: string; limit: string; spent: string; resetsAt: number },
  ) =>
    expect({ status: response.status, body: response.body }).toEqual({
      status: 402,
      body: {
        allowed: false,
        reason: 'key_limit_exceeded',
        balance: expected.balance,
        key_limit: expected.limit,
        key_spent: expected.spent,
        resets_at: iso(expected.resetsAt),
      },
    });

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(PAID_MODEL, '1.00', '1.00');
    await stack.setPrice(FREE_MODEL, '0', '0');
  });

  afterAll(() => stack.stop());

  describe('credit limits per UTC period', () => {
    beforeEach(() => clearOfUtcMidnight(), 200_000);

    it('allows a key below its daily limit and refuses it with 402 key_limit_exceeded once spend reaches it', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'daily' } });
      const today = dayStart(Date.now());
      const tomorrow = today + DAY;

      expectAllowed(await authorize(ws, key.id), '10.000000');
      await spend(ws, key.id, 4_000);
      expectAllowed(await authorize(ws, key.id), '9.996000');
      expect((await getKey(ws, key.id)).spend).toEqual({
        period_start: iso(today),
        resets_at: iso(tomorrow),
        spent: '0.004000',
        remaining: '0.006000',
      });

      await spend(ws, key.id, 5_999);
      expectAllowed(await authorize(ws, key.id), '9.990001'); // one micro under the limit

      await spend(ws, key.id, 1);
      expectOverLimit(await authorize(ws, key.id), {
        balance: '9.990000',
        limit: '0.010000',
        spent: '0.010000',
        resetsAt: tomorrow,
      });
      expect(await getKey(ws, key.id)).toEqual(
        expect.objectContaining({
          id: key.id,
          limit: { amount: '0.010000', period: 'daily' },
          status: 'active',
          spend: {
            period_start: iso(today),
            resets_at: iso(tomorrow),
            spent: '0.010000',
            remaining: '0.000000',
          },
        }),
      );

      // The limit is the key's: the account itself, and its other keys, still run paid models.
      expectAllowed(await authorize(ws), '9.990000');
      const other = await ws.createKey();
      expectAllowed(await authorize(ws, other.id), '9.990000');
    });

    it('keeps refusing with the overrun shown when usage already running takes a key past its limit', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'daily' } });
      await spend(ws, key.id, 12_500);
      const response = await authorize(ws, key.id);
      expect(response.status).toBe(402);
      expect(response.body).toEqual(
        expect.objectContaining({ key_spent: '0.012500', key_limit: '0.010000' }),
      );
      expect((await getKey(ws, key.id)).spend).toEqual(
        expect.objectContaining({ spent: '0.012500', remaining: '0.000000' }),
      );
    });

    it("counts a daily key's usage by the UTC day it occurred: yesterday 23:59:59.999 not today, today 00:00 today", async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'daily' } });
      const today = dayStart(Date.now());

      await spend(ws, key.id, 50_000, today - 1);
      expectAllowed(await authorize(ws, key.id), '9.950000');
      expect((await getKey(ws, key.id)).spend).toEqual({
        period_start: iso(today),
        resets_at: iso(today + DAY),
        spent: '0.000000',
        remaining: '0.010000',
      });

      await spend(ws, key.id, 10_000, today);
      expectOverLimit(await authorize(ws, key.id), {
        balance: '9.940000',
        limit: '0.010000',
        spent: '0.010000',
        resetsAt: today + DAY,
      });
    });

    it('counts a weekly key over the ISO week from Monday 00:00 UTC: Sunday 23:59:59.999 belongs to the week before', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'weekly' } });
      const now = Date.now();
      const monday = weekStart(now);
      expect(new Date(monday).getUTCDay()).toBe(1);

      await spend(ws, key.id, 50_000, monday - 1); // Sunday, last week
      expectAllowed(await authorize(ws, key.id), '9.950000');
      expect((await getKey(ws, key.id)).spend).toEqual({
        period_start: iso(monday),
        resets_at: iso(monday + 7 * DAY),
        spent: '0.000000',
        remaining: '0.010000',
      });

      // Monday 00:00 (earlier than today unless today is Monday) and now both count.
      await spend(ws, key.id, 6_000, monday);
      expectAllowed(await authorize(ws, key.id), '9.944000');
      await spend(ws, key.id, 4_000);
      expectOverLimit(await authorize(ws, key.id), {
        balance: '9.940000',
        limit: '0.010000',
        spent: '0.010000',
        resetsAt: monday + 7 * DAY,
      });
    });

    it('counts a monthly key over the calendar month: the last instant of the previous month does not count', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'monthly' } });
      const now = Date.now();
      const first = monthStart(now);
      const nextFirst = monthStart(now, 1);

      await spend(ws, key.id, 50_000, first - 1); // at most 31 days ago: still accepted at ingest
      expectAllowed(await authorize(ws, key.id), '9.950000');
      expect((await getKey(ws, key.id)).spend).toEqual({
        period_start: iso(first),
        resets_at: iso(nextFirst),
        spent: '0.000000',
        remaining: '0.010000',
      });

      await spend(ws, key.id, 6_000, first);
      await spend(ws, key.id, 4_000);
      expectOverLimit(await authorize(ws, key.id), {
        balance: '9.940000',
        limit: '0.010000',
        spent: '0.010000',
        resetsAt: nextFirst,
      });
    });

    it('applies a raised, a lowered and a removed limit (PATCH) to authorize', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'daily' } });
      await spend(ws, key.id, 10_000);
      expect((await authorize(ws, key.id)).status).toBe(402);
      /** Key changes reach ingest's cache through the catalog notice: allow it a second. */
      const authorizeUntil = (status: number) =>
        waitFor(
          () => authorize(ws, key.id),
          (response) => response.status === status,
          { timeoutMs: 1000, intervalMs: 20, what: `authorize to answer ${status}` },
        );

      const raised = await stack.admin.patch(`${ws.path}/api-keys/${key.id}`, {
        limit: { amount: '0.020000', period: 'daily' },
      });
      expect(raised.status).toBe(200);
      expect(raised.body.limit).toEqual({ amount: '0.020000', period: 'daily' });
      expectAllowed(await authorizeUntil(200), '9.990000');
      expect((await getKey(ws, key.id)).spend).toEqual(
        expect.objectContaining({ spent: '0.010000', remaining: '0.010000' }),
      );

      const lowered = await stack.admin.patch(`${ws.path}/api-keys/${key.id}`, {
        limit: { amount: '0.005000', period: 'daily' },
      });
      expect(lowered.status).toBe(200);
      expectOverLimit(await authorizeUntil(402), {
        balance: '9.990000',
        limit: '0.005000',
        spent: '0.010000',
        resetsAt: dayStart(Date.now()) + DAY,
      });

      const removed = await stack.admin.patch(`${ws.path}/api-keys/${key.id}`, { limit: null });
      expect(removed.status).toBe(200);
      expect(removed.body.limit).toBeNull();
      expectAllowed(await authorizeUntil(200), '9.990000');
      expect(await getKey(ws, key.id)).toEqual(expect.objectContaining({ limit: null, spend: null }));
      await spend(ws, key.id, 50_000);
      expectAllowed(await authorize(ws, key.id), '9.940000');

      // A limit that comes back counts what the key spent while it had none.
      const restored = await stack.admin.patch(`${ws.path}/api-keys/${key.id}`, {
        limit: { amount: '0.100000', period: 'daily' },
      });
      expect(restored.status).toBe(200);
      expect((await getKey(ws, key.id)).spend).toEqual(
        expect.objectContaining({ spent: '0.060000', remaining: '0.040000' }),
      );
    });

    it.each([
      ['an array', []],
      ['an array of limits', [{ amount: '0.010000', period: 'daily' }]],
      ['a string', '0.010000'],
    ])(
      'refuses a limit that is %s with 422 validation_failed, creating and changing nothing',
      async (_, limit) => {
        const ws = await developerWithCredits();
        const created = await stack.admin.post(`${ws.path}/api-keys`, { name: 'bad limit', limit });
        expect({ status: created.status, code: created.body?.error?.code }).toEqual({
          status: 422,
          code: 'validation_failed',
        });
        const keys = await stack.admin.get(`${ws.path}/api-keys`);
        expect(keys.body.api_keys.map((key: { name: string }) => key.name)).not.toContain('bad limit');

        const key = await ws.createKey({ limit: { amount: '0.020000', period: 'daily' } });
        const patched = await stack.admin.patch(`${ws.path}/api-keys/${key.id}`, { limit });
        expect({ status: patched.status, code: patched.body?.error?.code }).toEqual({
          status: 422,
          code: 'validation_failed',
        });
        expect((await getKey(ws, key.id)).limit).toEqual({ amount: '0.020000', period: 'daily' });
      },
    );

    it('never refuses a free model because of a key limit', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'daily' } });
      await spend(ws, key.id, 10_000);
      expect((await authorize(ws, key.id)).body.reason).toBe('key_limit_exceeded');

      expectAllowed(await authorize(ws, key.id, FREE_MODEL), '9.990000');
      const free = await ingest([{ ...usageEvent(ws, key.id, 1_000), model: FREE_MODEL }]);
      expect(free.status).toBe(202);
      await stack.drained();
      expectAllowed(await authorize(ws, key.id, FREE_MODEL), '9.990000');
      expect((await getKey(ws, key.id)).spend.spent).toBe('0.010000');
    });

    it("still refuses after Redis loses the key's spend counters: they are reloaded from Postgres", async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey({ limit: { amount: '0.010000', period: 'daily' } });
      const resetsAt = dayStart(Date.now()) + DAY;
      await spend(ws, key.id, 4_000);
      expect((await authorize(ws, key.id)).status).toBe(200); // the counter now lives in Redis
      await spend(ws, key.id, 6_000);
      const overLimit = { balance: '9.990000', limit: '0.010000', spent: '0.010000', resetsAt };
      expectOverLimit(await authorize(ws, key.id), overLimit);

      const pattern = `${stack.stores.prefix}:acct:{${ws.accountId}}:ks:*`;
      const counters = await scanKeys(stack, pattern);
      expect(counters.length).toBeGreaterThan(0);
      await stack.stores.redis.unlink(...counters);
      expect(await scanKeys(stack, pattern)).toEqual([]);

      expectOverLimit(await authorize(ws, key.id), overLimit);
      expect((await scanKeys(stack, pattern)).length).toBeGreaterThan(0);
      // And the reloaded counter keeps counting new usage.
      await spend(ws, key.id, 500);
      expect((await getKey(ws, key.id)).spend.spent).toBe('0.010500');
      expect((await authorize(ws, key.id)).body.key_spent).toBe('0.010500');
    });
  });

  describe('attribution of usage to keys and projects at ingest', () => {
    it("refuses an unknown key or another account's key with 422 unknown_api_key (and 403 at authorize)", async () => {
      const ws = await developerWithCredits();
      const stranger = await developerWithCredits();
      const theirs = await stranger.createKey();
      for (const keyId of [randomUUID(), theirs.id]) {
        const response = await ingest([usageEvent(ws, keyId, 100)]);
        expect(response.status).toBe(422);
        expect(response.body.errors).toEqual([
          expect.objectContaining({ index: 0, field: 'api_key_id', code: 'unknown_api_key' }),
        ]);
        const refused = await authorize(ws, keyId);
        expect({ status: refused.status, body: refused.body }).toEqual({
          status: 403,
          body: { allowed: false, reason: 'api_key_not_found' },
        });
      }
    });

    it('fills in the project of a key bound to one, and refuses another project with 422 project_mismatch', async () => {
      const ws = await developerWithCredits();
      const project = await ws.createProject();
      const otherProject = await ws.createProject();
      const key = await ws.createKey({ project_id: project });

      const event = usageEvent(ws, key.id, 100);
      expect((await ingest([event])).status).toBe(202);
      await stack.drained();
      const usage = await stack.gateway.get(`${ws.path}/usage`);
      expect(usage.body.data).toEqual([
        expect.objectContaining({ event_id: event.id, api_key_id: key.id, project_id: project }),
      ]);

      const mismatch = await ingest([{ ...usageEvent(ws, key.id, 100), project_id: otherProject }]);
      expect(mismatch.status).toBe(422);
      expect(mismatch.body.errors).toEqual([
        expect.objectContaining({ index: 0, field: 'project_id', code: 'project_mismatch' }),
      ]);
    });
  });

  describe('revocation', () => {
    it('refuses a key revoked without a change notice (the writer lost Redis after its commit) after CATALOG_RESYNC_MS', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey();
      expect((await authorize(ws, key.id)).status).toBe(200);
      // What DELETE commits, without the catalog notice it sends after the commit.
      await stack.stores.sql`update api_keys set revoked_at = now(), updated_at = now() where id = ${key.id}`;
      const refused = await waitFor(
        () => authorize(ws, key.id),
        (response) => response.status === 403,
        { timeoutMs: 10_000, intervalMs: 100, what: 'the key revoked without a notice to be refused' },
      );
      expect(refused.body).toEqual(expect.objectContaining({ allowed: false, reason: 'api_key_revoked' }));
    });

    it('refuses a revoked key at authorize (403) and on account routes (401) within a second of the DELETE', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey();
      const asKey = ws.asKey(key.key);
      const probes = {
        authorize: () => authorize(ws, key.id),
        balance: () => asKey.ingest.get(`${ws.path}/balance`),
        usage: () => asKey.ingest.get(`${ws.path}/usage`),
        account: () => asKey.api.get(ws.path),
      };
      for (const probe of Object.values(probes)) expect((await probe()).status).toBe(200);

      const deleted = await stack.admin.delete(`${ws.path}/api-keys/${key.id}`);
      const answeredAt = Date.now();
      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual(
        expect.objectContaining({ id: key.id, status: 'revoked', revoked_at: expect.any(String) }),
      );

      const unexpected: unknown[] = [];
      const refusedAfter = async (
        probe: () => Promise<JsonResponse>,
        refused: (r: JsonResponse) => boolean,
      ) => {
        await waitFor(
          async () => {
            const response = await probe();
            if (response.status !== 200 && !refused(response)) unexpected.push(response.body);
            return refused(response);
          },
          Boolean,
          { timeoutMs: 5000, intervalMs: 10, what: 'the revoked key to be refused' },
        );
        return Date.now() - answeredAt;
      };
      const revokedOnRoute = (response: JsonResponse) =>
        response.status === 401 && response.body?.error?.code === 'api_key_revoked';
      const [authorizeMs, balanceMs, usageMs, accountMs] = await Promise.all([
        refusedAfter(
          probes.authorize,
          (response) =>
            response.status === 403 &&
            response.body?.allowed === false &&
            response.body?.reason === 'api_key_revoked',
        ),
        refusedAfter(probes.balance, revokedOnRoute),
        refusedAfter(probes.usage, revokedOnRoute),
        refusedAfter(probes.account, revokedOnRoute),
      ]);
      expect(unexpected).toEqual([]);
      // Milliseconds from the DELETE's answer to the first refusal, per place the key is used.
      const elapsed = { authorize: authorizeMs, balance: balanceMs, usage: usageMs, account: accountMs };
      expect(Object.entries(elapsed).filter(([, ms]) => ms >= 1000)).toEqual([]);
      expect((await probes.authorize()).body).toEqual({ allowed: false, reason: 'api_key_revoked' });
      expect((await probes.balance()).body.error).toEqual(
        expect.objectContaining({ code: 'api_key_revoked' }),
      );

      // Revoking again changes nothing.
      const again = await stack.admin.delete(`${ws.path}/api-keys/${key.id}`);
      expect(again.body).toEqual(deleted.body);
      expect(await getKey(ws, key.id)).toEqual(
        expect.objectContaining({ status: 'revoked', revoked_at: deleted.body.revoked_at }),
      );
    });

    it('accepts usage that occurred before the revocation and refuses usage after it with 422 api_key_revoked', async () => {
      const ws = await developerWithCredits();
      const key = await ws.createKey();
      const deleted = await stack.admin.delete(`${ws.path}/api-keys/${key.id}`);
      expect(deleted.status).toBe(200);
      const revokedAt = Date.parse(deleted.body.revoked_at);
      // Revocation reaches every process within a second (previous test); ingest validates with the
      // same in-process catalog as authorize there, so wait for authorize to see it first.
      await waitFor(
        () => authorize(ws, key.id),
        (response) => response.status === 403 && response.body.reason === 'api_key_revoked',
        { timeoutMs: 1000, intervalMs: 10, what: 'the revocation to reach ingest' },
      );

      const after = await ingest([usageEvent(ws, key.id, 100, revokedAt + 1)]);
      expect(after.status).toBe(422);
      expect(after.body.errors).toEqual([
        expect.objectContaining({ index: 0, field: 'api_key_id', code: 'api_key_revoked' }),
      ]);
      const mixed = await ingest([usageEvent(ws, key.id, 100, revokedAt - 1), usageEvent(ws, key.id, 100)]);
      expect(mixed.status).toBe(422);
      expect(mixed.body.errors).toEqual([
        expect.objectContaining({ index: 1, field: 'api_key_id', code: 'api_key_revoked' }),
      ]);

      const before = usageEvent(ws, key.id, 2_500, revokedAt - 1);
      const accepted = await ingest([before]);
      expect({ status: accepted.status, body: accepted.body }).toEqual({
        status: 202,
        body: { accepted: 1, duplicates: 0 },
      });
      await stack.drained();
      expect((await stack.gateway.get(`${ws.path}/usage`)).body.data).toEqual([
        expect.objectContaining({ event_id: before.id, api_key_id: key.id, cost: '0.002500' }),
      ]);
      expect((await stack.gateway.get(`${ws.path}/balance`)).body.balance).toBe('9.997500');
    });
  });

  describe('what the database keeps of a key', () => {
    it('stores only a prefix and a 32-byte SHA-256: no table holds the secret, and prefix plus anything else is refused', async () => {
      const ws = await developerWithCredits();
      const key: CreatedKey = await ws.createKey({
        role: 'admin',
        limit: { amount: '1.00', period: 'monthly' },
      });
      const revokedKey = await ws.createKey();
      expect((await stack.admin.delete(`${ws.path}/api-keys/${revokedKey.id}`)).status).toBe(200);
      const [, prefix, secret] = KEY_FORMAT.exec(key.key) ?? [];
      expect(secret).toHaveLength(43);
      expect(KEY_FORMAT.test(revokedKey.key)).toBe(true);
      // The key is shown once: listing and reading it never show the secret again.
      const listed = await stack.admin.get(`${ws.path}/api-keys`);
      expect(JSON.stringify(listed.body)).not.toContain(secret);
      expect(JSON.stringify(await getKey(ws, key.id))).not.toContain(secret);

      // Every column of api_keys and audit_log, then every row of every table, as text.
      const rows = await stack.stores.sql.unsafe<Record<string, unknown>[]>(
        'select * from api_keys where id = $1',
        [key.id],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].prefix).toBe(prefix);
      const hash = rows[0].secret_hash as Buffer;
      expect(Buffer.isBuffer(hash)).toBe(true);
      expect(hash).toHaveLength(32);
      expect(hash.equals(createHash('sha256').update(key.key).digest())).toBe(true);
      const auditRows = await stack.stores.sql.unsafe<Record<string, unknown>[]>(
        'select * from audit_log where account_id = $1',
        [ws.accountId],
      );
      expect(auditRows.map((row) => row.action)).toEqual(
        expect.arrayContaining(['api_key.created', 'api_key.revoked']),
      );
      const tables = await stack.stores.sql<{ table_name: string }[]>`
        select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`;
      const dump: string[] = [];
      for (const row of [...(await stack.stores.sql.unsafe('select * from api_keys')), ...auditRows]) {
        for (const value of Object.values(row)) {
          dump.push(
            Buffer.isBuffer(value)
              ? [value.toString('hex'), value.toString('base64'), value.toString('latin1')].join(' ')
              : typeof value === 'object'
                ? JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v))
                : String(value),
          );
        }
      }
      for (const { table_name } of tables) {
        const all = await stack.stores.sql.unsafe<{ row: string }[]>(
          `select t::text as row from "${table_name}" t`,
        );
        dump.push(...all.map((row) => row.row));
      }
      const text = dump.join('\n');
      expect(text).toContain(prefix); // the scan does read the key rows
      for (const [what, secretOf] of [
        ['key', key],
        ['revoked key', revokedKey],
      ] as const) {
        const part = KEY_FORMAT.exec(secretOf.key)![2];
        const forms = [secretOf.key, part, Buffer.from(part, 'base64url').toString('hex')];
        for (const form of forms)
          expect({ what, found: text.includes(form) }).toEqual({ what, found: false });
      }

      // The real key works; its prefix with any other secret is refused, including the stored hash.
      const asKey = ws.asKey(key.key);
      expect((await asKey.ingest.get(`${ws.path}/balance`)).status).toBe(200);
      expect((await asKey.api.get(ws.path)).status).toBe(200);
      for (const forged of [
        `bk_${prefix}_${randomBytes(32).toString('base64url')}`,
        `bk_${prefix}_${hash.toString('base64url')}`,
        `bk_${prefix}_${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`,
      ]) {
        const forgedKey = ws.asKey(forged);
        for (const response of [
          await forgedKey.ingest.get(`${ws.path}/balance`),
          await forgedKey.api.get(ws.path),
          await forgedKey.api.get(`${ws.path}/api-keys`),
        ]) {
          expect({ status: response.status, code: response.body?.error?.code }).toEqual({
            status: 401,
            code: 'unauthorized',
          });
        }
      }
    });
  });
});

/**
 * A key's spend counter created while one of its batches is committed in Postgres and not yet
 * settled in Redis (the worker died in between): the counter is read from Postgres with that
 * batch in it, and the batch's settle must not add it a second time.
 */
describe('API keys: a spend counter created between a batch’s commit and its settle', () => {
  const stack = new BillingStack({ workers: 0 });
  const workerEnv = () => stack.stores.env({ USAGE_LOCK_DURATION_MS: '2000', RECONCILE_INTERVAL_MS: '0' });

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(PAID_MODEL, '1.00', '1.00');
  });

  afterAll(() => stack.stop());

  beforeEach(() => clearOfUtcMidnight(), 200_000);

  it('counts the batch once', async () => {
    const ws = await Workspace.create(stack, 'developer');
    await stack.grant(ws.accountId, '10.00');
    const key = await ws.createKey({ limit: { amount: '1.00', period: 'daily' } });
    const event = (micros: number) => ({
      id: randomUUID(),
      account_id: ws.accountId,
      model: PAID_MODEL,
      prompt_tokens: micros,
      completion_tokens: 0,
      api_key_id: key.id,
    });
    const authorize = () =>
      stack.gateway.post('/v1/authorize', {
        account_id: ws.accountId,
        model: PAID_MODEL,
        api_key_id: key.id,
      });
    const spent = async () => (await stack.admin.get(`${ws.path}/api-keys/${key.id}`)).body.spend.spent;

    const doomed = new AppProcess('usage-worker', workerEnv());
    await doomed.start({ FAILPOINT: 'after-commit' });
    expect((await stack.gateway.post('/v1/usage/events', { events: [event(300_000)] })).status).toBe(202);
    expect(await doomed.waitForExit()).toBeNull();

    // No counter yet this day: authorize creates it from Postgres, where the batch is committed.
    expect((await authorize()).body).toEqual({ allowed: true, balance: '9.700000' });
    expect(await spent()).toBe('0.300000');

    const survivor = new AppProcess('usage-worker', workerEnv());
    stack.workers.push(survivor);
    await survivor.start();
    await stack.drained();
    expect(await spent()).toBe('0.300000');

    // $0.95 in all: still allowed; $1.00 reached: refused.
    await stack.gateway.post('/v1/usage/events', { events: [event(650_000)] });
    await stack.drained();
    expect((await authorize()).body).toEqual({ allowed: true, balance: '9.050000' });
    await stack.gateway.post('/v1/usage/events', { events: [event(50_000)] });
    await stack.drained();
    expect((await authorize()).body).toMatchObject({
      allowed: false,
      reason: 'key_limit_exceeded',
      key_spent: '1.000000',
    });
  }, 60_000);
});

import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { TcpProxy } from '../support/tcp-proxy';
import { REDIS_URL } from '../support/test-stores';
import { waitFor } from '../support/wait-for';

const MODEL = 'announce-test-model';

/**
 * Redis lost between a catalog change's commit and its announce (INCR + PUBLISH of the catalog
 * version): the api reaches Redis through a proxy the test takes down at exactly that moment. The
 * test holds the accounts table (SHARE lock), which the account's insert waits for, so the request
 * is parked inside its transaction; the proxy goes down, the table is let go, the transaction
 * commits and the announce that follows finds no Redis. The account exists, so the answer must say
 * so (a 503 makes the admin tool's retry create a second one), and ingest, which reaches Redis
 * directly, must learn of the account once Redis is back, well before its catalog resync.
 */
describe('catalog change that loses Redis between its commit and its announce', () => {
  const upstream = new URL(REDIS_URL);
  const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 6379));
  const apiEnv: Record<string, string> = {};
  // Far beyond the test's waits: only the announce can tell ingest of the account in time.
  const stack = new BillingStack({ env: { CATALOG_RESYNC_MS: '600000' }, apiEnv });
  let keys: RedisKeys;

  beforeAll(async () => {
    await proxy.up();
    // The stack's stores are named when it is built; its apps start later, on this environment.
    apiEnv.REDIS_URL = proxy.via(stack.stores.redisUrl);
    await stack.start();
    keys = new RedisKeys(stack.stores.prefix);
    await stack.setPrice(MODEL, '1.00', '2.00');
    // Ingest knows the price (the api's announce reached it) before the account under test.
    await waitFor(
      async () => (await postUsage(await stack.createAccount())).status,
      (status) => status === 202,
      { what: 'ingest to accept usage of a priced model' },
    );
  });

  afterAll(async () => {
    await stack.stop();
    await proxy.down();
  });

  function postUsage(accountId: string) {
    return stack.gateway.post('/v1/usage/events', {
      events: [
        { id: randomUUID(), account_id: accountId, model: MODEL, prompt_tokens: 10, completion_tokens: 5 },
      ],
    });
  }

  /** Creates an account with Redis cut just before its announce; resolves with the answer, Redis still cut. */
  async function createLosingRedis(name: string) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = stack.stores.sql.begin(async (tx) => {
      await tx`lock table accounts in share mode`;
      locked();
      await released;
    });
    await isLocked;
    const answer = stack.admin.post('/v1/admin/accounts', {
      name,
      email: 'owner@example.test',
      tier: 'developer',
    });
    await waitFor(
      () => stack.stores.sql<{ pid: number }[]>`
        select pid from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'
          and query ilike '%insert into accounts%'`,
      (rows) => rows.length === 1,
      { what: 'the account insert to wait for the held table' },
    );
    await proxy.down();
    release();
    await holding;
    return answer;
  }

  it('answers 201 for the committed account, and ingest accepts its usage within seconds of Redis returning', async () => {
    const name = `acct ${randomUUID().slice(0, 8)}`;

    const response = await createLosingRedis(name);

    const rows = await stack.stores.sql<{ id: string }[]>`select id from accounts where name = ${name}`;
    expect({ status: response.status, body: response.body, rows: rows.length }).toEqual({
      status: 201,
      body: {
        id: rows[0]?.id,
        name,
        email: 'owner@example.test',
        tier: 'developer',
        status: 'active',
        balance: '0.000000',
      },
      rows: 1,
    });
    const accountId = rows[0].id;
    // Redis is still away from the api: nothing told ingest of the account yet.
    expect((await postUsage(accountId)).body).toMatchObject({ error: { code: 'invalid_events' } });

    await proxy.up();
    // Its zero balance reaches Redis too, before any usage: a balance the worker had to load from
    // Postgres would count as one Redis lost (billing_redis_state_loaded_total).
    await waitFor(
      () => stack.stores.redis.hgetall(keys.balance(accountId)),
      (hash) => hash.bal === '0' && /^\d+$/.test(hash.gen ?? ''),
      { timeoutMs: 5_000, what: "the new account's zero balance in Redis" },
    );
    const accepted = await waitFor(
      async () => (await postUsage(accountId)).status,
      (status) => status === 202,
      { timeoutMs: 5_000, what: 'ingest to accept usage of the new account' },
    );
    expect(accepted).toBe(202);
  });
});

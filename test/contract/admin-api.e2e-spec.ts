import { randomUUID } from 'node:crypto';
import { ApiClient } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { expectNothingReachedStores, takeSnapshot } from '../support/store-snapshot';
import { expectedCostMicros } from '../support/usage-events';
import { waitFor } from '../support/wait-for';

const PAID_MODEL = 'anthropic/claude-3.5-haiku';
const FREE_MODEL = 'meta-llama/llama-3.1-8b-instruct:free';
const MINUTE = 60_000;
const DAY = 24 * 3600_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('admin API, authorize, balance and usage reads', () => {
  const stack = new BillingStack({ workers: 1 });

  const createAccount = (body: unknown) => stack.admin.post('/v1/admin/accounts', body);
  const grant = (accountId: string, body: unknown, key: string | null = randomUUID()) =>
    stack.admin.post(
      `/v1/admin/accounts/${accountId}/credit-grants`,
      body,
      key === null ? {} : { 'idempotency-key': key },
    );
  const putPrice = (model: string, body: unknown) =>
    stack.admin.put(`/v1/admin/models/${encodeURIComponent(model)}`, body);
  /** The catalog as a gateway reads it (GET /v1/models is served by the api app). */
  const apiModels = async () => (await new ApiClient(stack.api.url).get('/v1/models')).body;
  const balanceOf = (accountId: string) => stack.gateway.get(`/v1/accounts/${accountId}/balance`);
  const authorize = (body: unknown) => stack.gateway.post('/v1/authorize', body);
  const grantRows = (accountId: string) =>
    stack.stores.sql<{ amount_micros: bigint; idempotency_key: string }[]>`
      select amount_micros, idempotency_key from ledger_entries where account_id = ${accountId} and kind = 'grant'`;

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(PAID_MODEL, '0.80', '4.00', {
      effective_from: new Date(Date.now() - 60 * DAY).toISOString(),
    });
    await stack.setPrice(FREE_MODEL, '0', '0', {
      effective_from: new Date(Date.now() - 60 * DAY).toISOString(),
    });
  });

  afterAll(() => stack.stop());

  describe('POST /v1/admin/accounts', () => {
    it('creates an account with a zero balance and answers 201 with its fields', async () => {
      const response = await createAccount({
        name: 'Acme AI',
        email: 'billing@acme.test',
        tier: 'developer',
      });
      expect(response.status).toBe(201);
      expect(response.body).toEqual(
        expect.objectContaining({
          name: 'Acme AI',
          email: 'billing@acme.test',
          tier: 'developer',
          balance: '0.000000',
        }),
      );
      expect(response.body.id).toMatch(UUID);
      expect((await balanceOf(response.body.id)).body.balance).toBe('0.000000');
    });

    it('creates a free-tier account when no tier is given', async () => {
      const response = await createAccount({ name: 'Hobbyist', email: 'me@example.test' });
      expect(response.status).toBe(201);
      expect(response.body.tier).toBe('free');
    });

    it('gives every account its own id', async () => {
      const [a, b] = await Promise.all([
        createAccount({ name: 'Twin', email: 'twin@example.test' }),
        createAccount({ name: 'Twin', email: 'twin@example.test' }),
      ]);
      expect(a.body.id).not.toBe(b.body.id);
    });

    it.each([
      ['the name is missing', { email: 'a@example.test' }, 'name'],
      ['the name is blank', { name: '   ', email: 'a@example.test' }, 'name'],
      ['the name is not a string', { name: 42, email: 'a@example.test' }, 'name'],
      ['the name is longer than 200 characters', { name: 'n'.repeat(201), email: 'a@example.test' }, 'name'],
      ['the email is missing', { name: 'Acme' }, 'email'],
      ['the email is not an email address', { name: 'Acme', email: 'not-an-email' }, 'email'],
      ['the tier is unknown', { name: 'Acme', email: 'a@example.test', tier: 'gold' }, 'tier'],
      ['there is an unknown field', { name: 'Acme', email: 'a@example.test', balance: '100.00' }, 'balance'],
    ])('answers 422 naming the field when %s, and creates nothing', async (_, body, field) => {
      const before = await takeSnapshot(stack);
      const response = await createAccount(body);
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: 'validation_failed', message: expect.any(String) });
      expect(response.body.errors).toContainEqual(expect.objectContaining({ field }));
      await expectNothingReachedStores(stack, before);
    });

    it('answers 400 to a body that is not JSON, and creates nothing', async () => {
      const before = await takeSnapshot(stack);
      const response = await createAccount('{"name": "Acme",');
      expect(response.status).toBe(400);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      await expectNothingReachedStores(stack, before);
    });
  });

  describe('POST /v1/admin/accounts/:id/credit-grants', () => {
    let accountId: string;

    beforeEach(async () => {
      accountId = await stack.createAccount();
    });

    it('grants credits and answers 201 with the new balance, which gateways then read', async () => {
      const first = await grant(accountId, { amount: '25.00', reason: 'onboarding' });
      expect(first.status).toBe(201);
      expect(first.body).toEqual({ balance: '25.000000' });
      const second = await grant(accountId, { amount: '0.000001', reason: 'goodwill' });
      expect(second.body).toEqual({ balance: '25.000001' });
      expect((await balanceOf(accountId)).body.balance).toBe('25.000001');
    });

    it('answers a repeated Idempotency-Key with the first result and grants only once', async () => {
      const key = randomUUID();
      const first = await grant(accountId, { amount: '10.00', reason: 'promo' }, key);
      const again = await grant(accountId, { amount: '10.00', reason: 'promo' }, key);
      expect(first.status).toBe(201);
      expect(again.status).toBe(201);
      expect(again.body).toEqual(first.body);
      expect(again.body).toEqual({ balance: '10.000000' });
      expect(await grantRows(accountId)).toHaveLength(1);
      expect((await balanceOf(accountId)).body.balance).toBe('10.000000');
      expect(await stack.stores.redisBalance(accountId)).toBe(10_000_000n);
      expect((await stack.stores.postgresBalances()).get(accountId)).toBe(10_000_000n);
    });

    it('returns the first result for a replayed key even after later grants', async () => {
      const key = randomUUID();
      await grant(accountId, { amount: '10.00', reason: 'promo' }, key);
      await grant(accountId, { amount: '5.00', reason: 'more' });
      const replay = await grant(accountId, { amount: '10.00', reason: 'promo' }, key);
      expect(replay.body).toEqual({ balance: '10.000000' });
      expect((await balanceOf(accountId)).body.balance).toBe('15.000000');
    });

    it('grants once when two requests with the same key arrive together', async () => {
      const key = randomUUID();
      const responses = await Promise.all(
        Array.from({ length: 5 }, () => grant(accountId, { amount: '7.00', reason: 'race' }, key)),
      );
      for (const response of responses) expect(response.body).toEqual({ balance: '7.000000' });
      expect(await grantRows(accountId)).toHaveLength(1);
      expect((await balanceOf(accountId)).body.balance).toBe('7.000000');
      expect(await stack.stores.redisBalance(accountId)).toBe(7_000_000n);
    });

    it('answers 409 to the same key with a different amount, and grants nothing more', async () => {
      const key = randomUUID();
      await grant(accountId, { amount: '10.00', reason: 'promo' }, key);
      const before = await takeSnapshot(stack);
      const conflict = await grant(accountId, { amount: '20.00', reason: 'promo' }, key);
      expect(conflict.status).toBe(409);
      expect(conflict.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      await expectNothingReachedStores(stack, before);
      expect((await balanceOf(accountId)).body.balance).toBe('10.000000');
    });

    it('treats the same key on another account as a separate grant', async () => {
      const other = await stack.createAccount();
      const key = randomUUID();
      await grant(accountId, { amount: '3.00', reason: 'promo' }, key);
      const response = await grant(other, { amount: '4.00', reason: 'promo' }, key);
      expect(response.status).toBe(201);
      expect(response.body).toEqual({ balance: '4.000000' });
      expect((await balanceOf(accountId)).body.balance).toBe('3.000000');
    });

    it('answers 400 without an Idempotency-Key, and grants nothing', async () => {
      const before = await takeSnapshot(stack);
      const response = await grant(accountId, { amount: '10.00', reason: 'promo' }, null);
      expect(response.status).toBe(400);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      await expectNothingReachedStores(stack, before);
    });

    it('answers 400 to an Idempotency-Key with "|" (it would clash with a pending change\'s side fields), and grants nothing', async () => {
      const before = await takeSnapshot(stack);
      const response = await grant(accountId, { amount: '10.00', reason: 'promo' }, `wire|${randomUUID()}`);
      expect({ status: response.status, code: response.body?.error?.code }).toEqual({
        status: 400,
        code: 'invalid_idempotency_key',
      });
      expect(response.body.error.message).toContain('|');
      await expectNothingReachedStores(stack, before);
    });

    it('answers 404 for an account that does not exist, and grants nothing', async () => {
      const before = await takeSnapshot(stack);
      const response = await grant(randomUUID(), { amount: '10.00', reason: 'promo' });
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      await expectNothingReachedStores(stack, before);
    });

    it('answers 404 for an account id that is not a UUID', async () => {
      const response = await grant('acct-42', { amount: '10.00', reason: 'promo' });
      expect(response.status).toBe(404);
    });

    it.each([
      ['"0"', '0'],
      ['"0.000000"', '0.000000'],
      ['"-1"', '-1'],
      ['"1.0000001" (more than 6 decimals)', '1.0000001'],
      ['5 (a JSON number)', 5],
      ['"1e3"', '1e3'],
      ['"ten"', 'ten'],
      ['"" (empty)', ''],
    ])('answers 422 to amount %s, and grants nothing', async (_, amount) => {
      const before = await takeSnapshot(stack);
      const response = await grant(accountId, { amount, reason: 'promo' });
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      await expectNothingReachedStores(stack, before);
    });

    it('grants up to a balance of $100,000,000,000 and answers 422 amount_out_of_range past it, granting nothing', async () => {
      const top = await grant(accountId, { amount: '100000000000', reason: 'the most a balance holds' });
      expect(top.status).toBe(201);
      expect(top.body).toEqual({ balance: '100000000000.000000' });
      const before = await takeSnapshot(stack);
      const response = await grant(accountId, { amount: '0.000001', reason: 'one micro more' });
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({
        code: 'amount_out_of_range',
        message: expect.stringContaining('100000000000.000000 USD'),
      });
      await expectNothingReachedStores(stack, before);
    });

    it('answers 422 amount_out_of_range to the largest amount the field takes, not 500, and grants nothing', async () => {
      const before = await takeSnapshot(stack);
      const response = await grant(accountId, { amount: '999999999999.999999', reason: 'too much' });
      expect({ status: response.status, code: response.body?.error?.code }).toEqual({
        status: 422,
        code: 'amount_out_of_range',
      });
      await expectNothingReachedStores(stack, before);
    });

    it('refuses in the transaction the one of two concurrent grants that takes the balance too high, leaving no pending change', async () => {
      const grantsWaiting = async () => {
        const [{ n }] = await stack.stores.sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
            and query like '%update account_balances set balance_micros%'`;
        return n;
      };
      // Both grants pass the check before Redis (the balance is 0), then queue on the balance row.
      let racing: ReturnType<typeof grant>[] = [];
      await stack.stores.sql.begin(async (tx) => {
        await tx`select 1 from account_balances where account_id = ${accountId} and shard = 0 for update`;
        racing = [
          grant(accountId, { amount: '60000000000', reason: 'first half' }),
          grant(accountId, { amount: '60000000000', reason: 'second half' }),
        ];
        await waitFor(grantsWaiting, (n) => n === 2, { what: 'both grants waiting on the balance row' });
      });
      // Committing released the row: one grant commits, the other finds the balance over the limit.
      const responses = await Promise.all(racing);
      expect(responses.map((response) => response.status).sort()).toEqual([201, 422]);
      const refused = responses.find((response) => response.status === 422);
      expect(refused?.body.error.code).toBe('amount_out_of_range');
      expect(await grantRows(accountId)).toHaveLength(1);
      expect((await stack.stores.postgresBalances()).get(accountId)).toBe(60_000_000_000_000_000n);
      expect(await stack.stores.redisBalance(accountId)).toBe(60_000_000_000_000_000n);
      expect(await stack.stores.pendingCount(accountId)).toBe(0);
    });

    it('answers 422 without a reason, and grants nothing', async () => {
      const before = await takeSnapshot(stack);
      const response = await grant(accountId, { amount: '1.00' });
      expect(response.status).toBe(422);
      await expectNothingReachedStores(stack, before);
    });
  });

  describe('PUT /v1/admin/models/:model and GET /v1/models', () => {
    it('accepts a URL-encoded model id with "/" and ":" and answers with version 1', async () => {
      const model = 'mistralai/mistral-7b-instruct:nitro';
      const response = await putPrice(model, {
        prompt_price_per_mtok: '0.25',
        completion_price_per_mtok: '0.75',
      });
      expect([200, 201]).toContain(response.status);
      expect(response.body).toEqual(
        expect.objectContaining({
          model,
          version: 1,
          prompt_price_per_mtok: '0.250000',
          completion_price_per_mtok: '0.750000',
          free: false,
        }),
      );
    });

    it('numbers each new price version of a model one higher than the last', async () => {
      const model = `acme/versioned:${randomUUID().slice(0, 8)}`;
      const versions: number[] = [];
      for (const price of ['1.00', '1.10', '1.20']) {
        versions.push(
          (await putPrice(model, { prompt_price_per_mtok: price, completion_price_per_mtok: '2.00' })).body
            .version,
        );
      }
      expect(versions).toEqual([1, 2, 3]);
    });

    it('shows the version now in effect, with its prices, in GET /v1/models', async () => {
      const model = 'google/gemma-2-9b:paid';
      await putPrice(model, { prompt_price_per_mtok: '0.10', completion_price_per_mtok: '0.20' });
      await putPrice(model, {
        prompt_price_per_mtok: '0.30',
        completion_price_per_mtok: '0.40',
        cached_price_per_mtok: '0.05',
        reasoning_price_per_mtok: '0.90',
      });
      const listed = (await apiModels()).data.filter((entry: { model: string }) => entry.model === model);
      expect(listed).toEqual([
        expect.objectContaining({
          model,
          version: 2,
          prompt_price_per_mtok: '0.300000',
          completion_price_per_mtok: '0.400000',
          cached_price_per_mtok: '0.050000',
          reasoning_price_per_mtok: '0.900000',
          free: false,
        }),
      ]);
    });

    it('marks a model whose prices are all zero as free', async () => {
      const model = 'qwen/qwen-2.5-7b-instruct:free';
      const response = await putPrice(model, {
        prompt_price_per_mtok: '0',
        completion_price_per_mtok: '0.000000',
      });
      expect(response.body.free).toBe(true);
      const listed = (await apiModels()).data.find((entry: { model: string }) => entry.model === model);
      expect(listed).toEqual(
        expect.objectContaining({ model, free: true, prompt_price_per_mtok: '0.000000' }),
      );
    });

    it('keeps the old price current when a new version takes effect in the future', async () => {
      const model = 'acme/scheduled-change';
      await putPrice(model, {
        prompt_price_per_mtok: '1.00',
        completion_price_per_mtok: '2.00',
        effective_from: new Date(Date.now() - DAY).toISOString(),
      });
      const future = await putPrice(model, {
        prompt_price_per_mtok: '9.00',
        completion_price_per_mtok: '9.00',
        effective_from: new Date(Date.now() + DAY).toISOString(),
      });
      expect(future.body.version).toBe(2);
      const listed = (await apiModels()).data.find((entry: { model: string }) => entry.model === model);
      expect(listed).toEqual(expect.objectContaining({ version: 1, prompt_price_per_mtok: '1.000000' }));
    });

    it('does not list a model whose only price starts in the future', async () => {
      const model = 'acme/not-yet';
      await putPrice(model, {
        prompt_price_per_mtok: '1.00',
        completion_price_per_mtok: '2.00',
        effective_from: new Date(Date.now() + DAY).toISOString(),
      });
      expect((await apiModels()).data.map((entry: { model: string }) => entry.model)).not.toContain(model);
    });

    it.each([
      ['a word', { prompt_price_per_mtok: 'cheap', completion_price_per_mtok: '1.00' }],
      ['negative', { prompt_price_per_mtok: '-0.10', completion_price_per_mtok: '1.00' }],
      ['more than 6 decimals', { prompt_price_per_mtok: '0.1000001', completion_price_per_mtok: '1.00' }],
      ['a JSON number', { prompt_price_per_mtok: 0.15, completion_price_per_mtok: '1.00' }],
      ['in exponent notation', { prompt_price_per_mtok: '1e-3', completion_price_per_mtok: '1.00' }],
      ['empty', { prompt_price_per_mtok: '', completion_price_per_mtok: '1.00' }],
      ['missing', { completion_price_per_mtok: '1.00' }],
      [
        'an invalid cached price',
        { prompt_price_per_mtok: '1.00', completion_price_per_mtok: '1.00', cached_price_per_mtok: 'x' },
      ],
      [
        'an invalid reasoning price',
        { prompt_price_per_mtok: '1.00', completion_price_per_mtok: '1.00', reasoning_price_per_mtok: '-1' },
      ],
      [
        'an invalid effective_from',
        { prompt_price_per_mtok: '1.00', completion_price_per_mtok: '1.00', effective_from: 'next tuesday' },
      ],
      ['over $1,000,000', { prompt_price_per_mtok: '1000000.000001', completion_price_per_mtok: '1.00' }],
      [
        'a reasoning price of 12 digits',
        {
          prompt_price_per_mtok: '1.00',
          completion_price_per_mtok: '1.00',
          reasoning_price_per_mtok: '999999999999',
        },
      ],
    ])('answers 422 to a price that is %s, and adds no version', async (_, body) => {
      const model = 'acme/guarded';
      await putPrice(model, { prompt_price_per_mtok: '1.00', completion_price_per_mtok: '2.00' });
      const before = await takeSnapshot(stack);
      const response = await putPrice(model, body);
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      await expectNothingReachedStores(stack, before);
    });

    it('accepts a price of $1,000,000 per million tokens and refuses more, naming the field and the limit', async () => {
      const model = 'acme/priciest';
      const top = await putPrice(model, {
        prompt_price_per_mtok: '1000000',
        completion_price_per_mtok: '1.00',
      });
      expect([200, 201]).toContain(top.status);
      expect(top.body.prompt_price_per_mtok).toBe('1000000.000000');
      const before = await takeSnapshot(stack);
      const response = await putPrice(model, {
        prompt_price_per_mtok: '1.00',
        completion_price_per_mtok: '1.00',
        cached_price_per_mtok: '1000000.01',
      });
      expect(response.status).toBe(422);
      expect(response.body).toEqual({
        error: { code: 'validation_failed', message: expect.stringContaining('1000000.000000 USD') },
        errors: [{ field: 'cached_price_per_mtok', code: 'invalid', message: expect.any(String) }],
      });
      await expectNothingReachedStores(stack, before);
    });

    it('answers 422 to a model id with a space, and adds no version', async () => {
      const before = await takeSnapshot(stack);
      const response = await putPrice('acme/bad model', {
        prompt_price_per_mtok: '1.00',
        completion_price_per_mtok: '2.00',
      });
      expect(response.status).toBe(422);
      await expectNothingReachedStores(stack, before);
    });

    it('lets gateways read the catalog with their own token', async () => {
      const response = await new ApiClient(stack.api.url).get('/v1/models');
      expect(response.status).toBe(200);
      expect(response.body.data.map((entry: { model: string }) => entry.model)).toEqual(
        expect.arrayContaining([PAID_MODEL, FREE_MODEL]),
      );
    });
  });

  describe('POST /v1/authorize', () => {
    let funded: string;
    let empty: string;

    beforeAll(async () => {
      funded = await stack.createAccount();
      empty = await stack.createAccount();
      await stack.grant(funded, '2.50');
    });

    it('allows a paid model for an account with a positive balance, showing the balance', async () => {
      const response = await authorize({ account_id: funded, model: PAID_MODEL });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ allowed: true, balance: '2.500000' });
    });

    it('answers 402 insufficient_credits for a paid model at a zero balance', async () => {
      const response = await authorize({ account_id: empty, model: PAID_MODEL });
      expect(response.status).toBe(402);
      expect(response.body).toEqual({ allowed: false, reason: 'insufficient_credits', balance: '0.000000' });
    });

    it('allows a free model at a zero balance', async () => {
      const response = await authorize({ account_id: empty, model: FREE_MODEL });
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ allowed: true, balance: '0.000000' });
    });

    it('answers 402 once usage has spent the whole balance', async () => {
      const spender = await stack.createAccount();
      await stack.grant(spender, '0.000100');
      // 1,000 completion tokens at $4.00 per million cost $0.004: more than the balance.
      const event = {
        id: randomUUID(),
        account_id: spender,
        model: PAID_MODEL,
        prompt_tokens: 0,
        completion_tokens: 1000,
      };
      expect((await stack.gateway.post('/v1/usage/events', { events: [event] })).status).toBe(202);
      const response = await waitFor(
        () => authorize({ account_id: spender, model: PAID_MODEL }),
        (r) => r.status !== 200,
        { what: 'authorize to refuse the spent account' },
      );
      expect(response.status).toBe(402);
      expect(response.body).toEqual({ allowed: false, reason: 'insufficient_credits', balance: '-0.003900' });
    });

    it('answers 422 for a model that is not in the catalog', async () => {
      const response = await authorize({ account_id: funded, model: 'acme/no-such-model' });
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    });

    it('answers 404 for an account that does not exist', async () => {
      const response = await authorize({ account_id: randomUUID(), model: PAID_MODEL });
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    });

    it.each([
      ['without a model', { account_id: randomUUID() }],
      ['without an account', { model: PAID_MODEL }],
      ['with an unknown field', { account_id: randomUUID(), model: PAID_MODEL, tokens: 5 }],
    ])('answers 422 to a request %s', async (_, body) => {
      const response = await authorize(body);
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    });
  });

  describe('GET /v1/accounts/:id/balance', () => {
    it('answers with the balance as a USD string, the currency and the time', async () => {
      const accountId = await stack.createAccount();
      await stack.grant(accountId, '12.345678');
      const started = Date.now();
      const response = await balanceOf(accountId);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({
        account_id: accountId,
        balance: '12.345678',
        currency: 'USD',
        as_of: expect.any(String),
      });
      expect(Math.abs(Date.parse(response.body.as_of) - started)).toBeLessThan(60_000);
    });

    it('answers 404 for an account that does not exist', async () => {
      const response = await balanceOf(randomUUID());
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    });

    it('answers 404 for an account id that is not a UUID', async () => {
      const response = await balanceOf('not-a-uuid');
      expect(response.status).toBe(404);
    });
  });

  it('stores event ids and metadata exactly as sent, quotes, backslashes, braces and NULL-like text included', async () => {
    const accountId = await stack.createAccount();
    await stack.grant(accountId, '1');
    const ids = ['NULL', 'null', 'say"hi"', 'back\\slash', '\\"', '{a,b}', 'x,y', `plain-${randomUUID()}`];
    const metadata = {
      note: 'a "quoted" \\ word, {braced}',
      nothing: null,
      emoji: 'ü',
      nested: { list: [1, 'NULL'] },
    };
    const response = await stack.gateway.post('/v1/usage/events', {
      events: ids.map((id, index) => ({
        id,
        account_id: accountId,
        model: PAID_MODEL,
        prompt_tokens: 10 + index,
        completion_tokens: 1,
        ...(index === 2 ? { metadata } : {}),
      })),
    });
    expect(response.status).toBe(202);
    await stack.drained();

    const rows = await stack.stores.sql<{ event_id: string; prompt_tokens: number; metadata: unknown }[]>`
      select event_id, prompt_tokens, metadata from usage_events where account_id = ${accountId}`;
    expect(new Map(rows.map((row) => [row.event_id, row.prompt_tokens]))).toEqual(
      new Map(ids.map((id, index) => [id, 10 + index])),
    );
    expect(rows.find((row) => row.event_id === ids[2])?.metadata).toEqual(metadata);
    expect(rows.filter((row) => row.metadata !== null)).toHaveLength(1);
  });

  describe('GET /v1/accounts/:id/usage', () => {
    const NOW = Date.now();
    let accountId: string;
    let otherAccount: string;
    /** Every event sent, newest first as the API must list them. */
    let events: { id: string; occurredAt: number; prompt: number; completion: number }[];

    const usage = (query: string, account = accountId) =>
      stack.gateway.get(`/v1/accounts/${account}/usage${query}`);

    async function allPages(limit: number, extra = ''): Promise<{ event_id: string; occurred_at: string }[]> {
      const rows: { event_id: string; occurred_at: string }[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 100; page++) {
        const response = await usage(
          `?limit=${limit}${extra}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(response.status).toBe(200);
        expect(response.body.data.length).toBeLessThanOrEqual(limit);
        rows.push(...response.body.data);
        cursor = response.body.next_cursor;
        if (cursor === null) return rows;
      }
      throw new Error('pagination did not end');
    }

    beforeAll(async () => {
      accountId = await stack.createAccount();
      otherAccount = await stack.createAccount();
      await stack.grant(accountId, '100');
      await stack.grant(otherAccount, '100');
      // 25 events a minute apart, except that events 10 and 11 and events 20-22 share an instant.
      events = Array.from({ length: 25 }, (_, i) => {
        const minutesAgo = i === 11 ? 10 : i === 21 || i === 22 ? 20 : i;
        return {
          id: `evt-${String(i).padStart(2, '0')}-${randomUUID()}`,
          occurredAt: NOW - (minutesAgo + 1) * MINUTE,
          prompt: 100 + i,
          completion: 10 + i,
        };
      });
      const payload = events.map((event) => ({
        id: event.id,
        account_id: accountId,
        model: PAID_MODEL,
        prompt_tokens: event.prompt,
        completion_tokens: event.completion,
        occurred_at: new Date(event.occurredAt).toISOString(),
      }));
      // Sent in three requests, out of order.
      for (const slice of [payload.slice(10), payload.slice(0, 5), payload.slice(5, 10)]) {
        const response = await stack.gateway.post('/v1/usage/events', { events: slice });
        if (response.status !== 202) throw new Error(JSON.stringify(response.body));
      }
      await stack.gateway.post('/v1/usage/events', {
        events: [
          {
            id: randomUUID(),
            account_id: otherAccount,
            model: PAID_MODEL,
            prompt_tokens: 1,
            completion_tokens: 1,
          },
        ],
      });
      await stack.drained();
      events.sort((a, b) => b.occurredAt - a.occurredAt);
    });

    /** Each event exactly once, and never an older one before a newer one. */
    function expectEveryEventOnceNewestFirst(
      rows: { event_id: string; occurred_at: string }[],
      expected = events,
    ) {
      expect(rows.map((row) => row.event_id).sort()).toEqual(expected.map((event) => event.id).sort());
      const times = rows.map((row) => Date.parse(row.occurred_at));
      expect(times).toEqual([...times].sort((a, b) => b - a));
    }

    it('lists every event exactly once, newest first, across pages', async () => {
      expectEveryEventOnceNewestFirst(await allPages(4));
    });

    it.each([1, 2, 3, 7, 25, 1000])(
      'lists every event exactly once, newest first, with pages of %i',
      async (limit) => {
        expectEveryEventOnceNewestFirst(await allPages(limit));
      },
    );

    it('shows each event with its tokens and its cost as a USD string', async () => {
      const response = await usage('?limit=1000');
      const newest = events[0];
      const row = response.body.data.find((entry: { event_id: string }) => entry.event_id === newest.id);
      const cost = expectedCostMicros(
        {
          id: newest.id,
          account_id: accountId,
          model: PAID_MODEL,
          prompt_tokens: newest.prompt,
          completion_tokens: newest.completion,
        },
        { prompt: 800_000n, completion: 4_000_000n, cached: 800_000n, reasoning: 4_000_000n },
      );
      expect(row).toEqual(
        expect.objectContaining({
          model: PAID_MODEL,
          prompt_tokens: newest.prompt,
          completion_tokens: newest.completion,
          cached_tokens: 0,
          reasoning_tokens: 0,
          cost: `0.${cost.toString().padStart(6, '0')}`,
          occurred_at: new Date(newest.occurredAt).toISOString(),
        }),
      );
    });

    it('ends with a null next_cursor', async () => {
      const response = await usage('?limit=1000');
      expect(response.body.data).toHaveLength(25);
      expect(response.body.next_cursor).toBeNull();
    });

    it('shows only the account’s own events', async () => {
      const rows = await allPages(1000);
      const other = (await usage('?limit=1000', otherAccount)).body.data;
      expect(other).toHaveLength(1);
      expect(rows.map((row) => row.event_id)).not.toContain(other[0].event_id);
    });

    it('keeps events from `from` on (inclusive) and before `to` (exclusive)', async () => {
      const from = new Date(events[15].occurredAt).toISOString();
      const to = new Date(events[4].occurredAt).toISOString();
      const rows = await allPages(3, `&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
      const expected = events.filter(
        (event) => event.occurredAt >= events[15].occurredAt && event.occurredAt < events[4].occurredAt,
      );
      expect(expected.length).toBeGreaterThan(5);
      expectEveryEventOnceNewestFirst(rows, expected);
    });

    it('answers an empty page for a window without events', async () => {
      const from = new Date(NOW + DAY).toISOString();
      const response = await usage(`?from=${encodeURIComponent(from)}`);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ data: [], next_cursor: null });
    });

    it.each([
      ['text that is not a cursor', 'not-a-cursor'],
      ['base64 of something else', Buffer.from('{"hello":"world"}').toString('base64url')],
      ['a cursor with a bad date', Buffer.from(JSON.stringify(['yesterday', 'evt'])).toString('base64url')],
      // Edited cursors whose parts JavaScript reads but Postgres refuses: never a failed statement.
      ['a cursor dated 2030', Buffer.from(JSON.stringify(['2030', 'evt'])).toString('base64url')],
      [
        'a cursor dated February 31st',
        Buffer.from(JSON.stringify(['2026-02-31T00:00:00.000000Z', 'evt'])).toString('base64url'),
      ],
      [
        'a cursor with a NUL in its event id',
        Buffer.from(JSON.stringify(['2026-01-01T00:00:00.000000Z', 'e\u0000v'])).toString('base64url'),
      ],
    ])('answers 422 to a cursor that is %s', async (_, cursor) => {
      const response = await usage(`?cursor=${encodeURIComponent(cursor)}`);
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    });

    it.each(['0000-01-01T00:00:00Z', '-100000-01-01T00:00:00Z', '+275760-01-01T00:00:00Z'])(
      'answers 422 validation_failed to from=%s (JavaScript reads it, Postgres would not)',
      async (from) => {
        const response = await usage(`?from=${encodeURIComponent(from)}`);
        expect({ status: response.status, code: response.body?.error?.code }).toEqual({
          status: 422,
          code: 'validation_failed',
        });
      },
    );

    it.each(['2026-02-30T00:00:00Z', '2026-03-07', 'March 7 2026', '2026-03-07T10:00:00'])(
      'answers 422 validation_failed to from=%s (Date.parse reads it: rolled over, or no time zone)',
      async (from) => {
        const response = await usage(`?from=${encodeURIComponent(from)}`);
        expect({ status: response.status, code: response.body?.error?.code }).toEqual({
          status: 422,
          code: 'validation_failed',
        });
      },
    );

    it.each(['0', '-1', '1001', '2.5', 'ten', '1e2', '0x10', ' 5 '])(
      'answers 422 to limit=%j',
      async (limit) => {
        const response = await usage(`?limit=${encodeURIComponent(limit)}`);
        expect(response.status).toBe(422);
        expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      },
    );

    it('accepts the limit bounds 1 and 1000', async () => {
      expect((await usage('?limit=1')).body.data).toHaveLength(1);
      expect((await usage('?limit=1000')).body.data).toHaveLength(25);
    });

    it.each([
      ['before from', -MINUTE],
      ['equal to from', 0],
    ])('answers 422 invalid_range to a to %s', async (_, offset) => {
      const from = NOW - 5 * MINUTE;
      const response = await usage(
        `?from=${new Date(from).toISOString()}&to=${new Date(from + offset).toISOString()}`,
      );
      expect(response.status).toBe(422);
      expect(response.body.error).toEqual({ code: 'invalid_range', message: expect.any(String) });
    });

    it('answers 422 to a from that is not a date', async () => {
      const response = await usage('?from=last-week');
      expect(response.status).toBe(422);
    });

    it('answers 404 for an account that does not exist', async () => {
      const response = await usage('', randomUUID());
      expect(response.status).toBe(404);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    });
  });
});

import { randomUUID } from 'node:crypto';
import { connect, Socket } from 'node:net';
import { JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import {
  expectNothingReachedStores,
  StoreSnapshot,
  takeSnapshot,
  usageJobsAddedSince,
} from '../support/store-snapshot';
import { TEST_GATEWAY_TOKEN } from '../support/test-stores';
import { expectedCostMicros, TestEvent } from '../support/usage-events';
import { waitFor } from '../support/wait-for';

const MODEL = 'openai/gpt-4o-mini';
const PRICES = { prompt: 150_000n, completion: 600_000n, cached: 75_000n, reasoning: 2_500_000n };
const FREE_MODEL = 'meta-llama/llama-3.1-8b-instruct:free';
/** Priced only from one day ago: usage that happened before has no price. */
const LATE_MODEL = 'acme/late-model';
/** Priced only from an hour from now. */
const FUTURE_MODEL = 'acme/future-model';
/** Completion tokens at the highest price the catalog accepts: $1,000,000 per million. */
const STEEP_MODEL = 'acme/steep-model';
const MIB = 1024 * 1024;
const MINUTE = 60_000;
const DAY = 24 * 3600_000;

type Json = Record<string, unknown>;

/** Micros as the API shows money: a USD decimal string with six decimals. */
function usd(micros: bigint): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  return `${sign}${abs / 1_000_000n}.${(abs % 1_000_000n).toString().padStart(6, '0')}`;
}

/** A date-time with a day its month does not have (e.g. the 31st of a 30-day month). */
function impossibleCalendarDate(): string {
  const now = new Date();
  const year = now.getUTCFullYear();
  for (let back = 0; back < 12; back++) {
    const month = (now.getUTCMonth() - back + 12) % 12; // 0-based
    const y = now.getUTCMonth() - back < 0 ? year - 1 : year;
    const days = new Date(Date.UTC(y, month + 1, 0)).getUTCDate();
    if (days < 31) return `${y}-${String(month + 1).padStart(2, '0')}-${days + 1}T12:00:00Z`;
  }
  throw new Error('unreachable');
}

describe('POST /v1/usage/events: refused requests leave nothing behind', () => {
  const stack = new BillingStack({ workers: 1 });
  let accountA: string;
  let accountB: string;
  let baseline: StoreSnapshot;

  const ingest = (body: unknown) => stack.gateway.post('/v1/usage/events', body);
  const eventRows = async (accountId: string, ids: string[]) =>
    stack.stores.sql<{ event_id: string }[]>`
      select event_id from usage_events where account_id = ${accountId} and event_id = any(${ids})`;

  /**
   * Raw bytes to ingest on a connection of their own, for what no HTTP client sends (malformed
   * HTTP, a body that stops); `answer` is all ingest wrote back before the connection closed.
   */
  function rawConnection(text: string): { socket: Socket; answer: Promise<string> } {
    const socket = connect(stack.ingest.port, '127.0.0.1');
    socket.on('error', () => undefined);
    const answer = new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
      socket.on('close', () => resolve(received));
    });
    socket.write(text);
    return { socket, answer };
  }

  /** A gateway's 90 kB batch still arriving: its headers are in, its body is not. */
  const STALLED_BATCH =
    `POST /v1/usage/events HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${TEST_GATEWAY_TOKEN}\r\n` +
    `content-type: application/json\r\ncontent-length: 90000\r\n\r\n{"events": [`;

  /** billing_http_client_errors_total of ingest for one code (0 before the first). */
  async function clientErrors(code: string): Promise<number> {
    const metrics = await (await fetch(`${stack.ingest.url}/metrics`)).text();
    const series = new RegExp(`^billing_http_client_errors_total\\{[^}]*code="${code}"[^}]*\\} (\\d+)$`, 'm');
    return Number(series.exec(metrics)?.[1] ?? 0);
  }

  function validEvent(overrides: Json = {}): Json {
    return {
      id: randomUUID(),
      account_id: accountA,
      model: MODEL,
      prompt_tokens: 1200,
      completion_tokens: 300,
      cached_tokens: 200,
      reasoning_tokens: 100,
      occurred_at: new Date(Date.now() - MINUTE).toISOString(),
      ...overrides,
    };
  }

  /** Metadata whose objects and arrays nest `levels` deep, the metadata object itself being level 1. */
  function nestedMetadata(levels: number): Json {
    let value: unknown = 'leaf';
    for (let level = 1; level < levels; level++) value = level % 2 ? [value] : { inner: value };
    return { outer: value };
  }

  function without(event: Json, field: string): Json {
    const copy = { ...event };
    delete copy[field];
    return copy;
  }

  /** The response is a JSON error with the given status, and the stores are as before the request. */
  async function expectRefusedWithoutTrace(response: JsonResponse, status: number) {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
    await expectNothingReachedStores(stack, baseline);
  }

  beforeAll(async () => {
    await stack.start();
    const longAgo = { effective_from: new Date(Date.now() - 60 * DAY).toISOString() };
    await stack.setPrice(MODEL, '0.15', '0.60', {
      cached_price_per_mtok: '0.075',
      reasoning_price_per_mtok: '2.50',
      ...longAgo,
    });
    await stack.setPrice(FREE_MODEL, '0', '0', longAgo);
    await stack.setPrice(STEEP_MODEL, '1.00', '1000000', longAgo);
    await stack.setPrice(LATE_MODEL, '1.00', '2.00', {
      effective_from: new Date(Date.now() - DAY).toISOString(),
    });
    await stack.setPrice(FUTURE_MODEL, '1.00', '2.00', {
      effective_from: new Date(Date.now() + 3600_000).toISOString(),
    });
    accountA = await stack.createAccount();
    accountB = await stack.createAccount();
    await stack.grant(accountA, '1000');
    await stack.grant(accountB, '1000');
    baseline = await takeSnapshot(stack);
    // Refused requests are checked against a store holding the two grants and nothing else.
    if (
      baseline.usageEvents !== 0 ||
      baseline.nonGrantLedgerEntries !== 0 ||
      baseline.acceptedMarkers.length !== 0
    ) {
      throw new Error(`unexpected starting state: ${JSON.stringify(baseline)}`);
    }
    if (baseline.usageJobsOutstanding !== 0) throw new Error('usage queue is not empty at start');
  });

  afterAll(() => stack.stop());

  describe('requests that are not a usage batch', () => {
    it('answers 400 to a body that is not valid JSON and accepts nothing', async () => {
      const response = await ingest('{"events": [');
      await expectRefusedWithoutTrace(response, 400);
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded'])(
      'answers 415 naming application/json to a valid batch sent as %s, and accepts nothing',
      async (contentType) => {
        const body = JSON.stringify({ events: [validEvent()] });
        const response = await stack.gateway.post('/v1/usage/events', body, { 'content-type': contentType });
        await expectRefusedWithoutTrace(response, 415);
        expect(response.body.error).toEqual({
          code: 'unsupported_media_type',
          message: expect.stringContaining('Content-Type: application/json'),
        });
      },
    );

    it.each([
      ['malformed HTTP', 'POST /v1/usage/events HTTP/1.1\r\nhost 127.0.0.1\r\n\r\n', 400, 'bad_request'],
      [
        'headers over 16 KiB',
        `POST /v1/usage/events HTTP/1.1\r\nhost: 127.0.0.1\r\nx-padding: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
        'headers_too_large',
      ],
    ])('answers %s with %d in the error shape, before any route runs', async (_, request, status, code) => {
      const before = await takeSnapshot(stack);
      const countedBefore = await clientErrors(code);
      const [head, body] = (await rawConnection(request).answer).split('\r\n\r\n');
      expect(head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(head).toMatch(/\r\ncontent-type: application\/json/i);
      expect(JSON.parse(body)).toEqual({ error: { code, message: expect.any(String) } });
      expect(await clientErrors(code)).toBe(countedBefore + 1);
      await expectNothingReachedStores(stack, before);
    });

    it.each([
      ['an array', JSON.stringify([{ events: [] }])],
      ['a string', JSON.stringify('events')],
      ['a number', '42'],
      ['null', 'null'],
    ])('answers 422 to a body that is %s and accepts nothing', async (_, body) => {
      const response = await ingest(body);
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        expect.objectContaining({ index: null, code: expect.any(String) }),
      ]);
    });

    it('answers 422 naming the events field when events is missing, and accepts nothing', async () => {
      const response = await ingest({});
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: null, field: 'events', code: 'required', message: expect.any(String) },
      ]);
    });

    it('answers 422 when events is not an array, and accepts nothing', async () => {
      const response = await ingest({ events: validEvent() });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([expect.objectContaining({ index: null, field: 'events' })]);
    });

    it('answers 422 to an empty events array and accepts nothing', async () => {
      const response = await ingest({ events: [] });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: null, field: 'events', code: 'no_events', message: expect.any(String) },
      ]);
    });

    it('answers 422 to 1,001 valid events and accepts none of them', async () => {
      const events = Array.from({ length: 1001 }, () => validEvent());
      const response = await ingest({ events });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: null, field: 'events', code: 'too_many_events', message: expect.any(String) },
      ]);
    });

    it('answers 422 to an unknown field beside events and accepts nothing', async () => {
      const response = await ingest({ events: [validEvent()], account_id: accountA });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: null, field: 'account_id', code: 'unknown_field', message: expect.any(String) },
      ]);
    });

    it('answers 413 to a body one byte over 1 MiB and accepts nothing', async () => {
      const json = JSON.stringify({ events: [validEvent()] });
      const body = json.slice(0, -1) + ' '.repeat(MIB + 1 - Buffer.byteLength(json)) + '}';
      expect(Buffer.byteLength(body)).toBe(MIB + 1);
      const response = await stack.gateway.postOversized('/v1/usage/events', body);
      await expectRefusedWithoutTrace(response, 413);
    });

    it('answers 413 to 1,000 events whose metadata takes the body over 1 MiB, and accepts nothing', async () => {
      const metadata = { note: 'x'.repeat(1100) };
      const events = Array.from({ length: 1000 }, () => validEvent({ metadata }));
      expect(Buffer.byteLength(JSON.stringify({ events }))).toBeGreaterThan(MIB);
      const response = await stack.gateway.postOversized('/v1/usage/events', JSON.stringify({ events }));
      await expectRefusedWithoutTrace(response, 413);
    });
  });

  describe('an invalid event beside a valid one', () => {
    const cases: [string, (event: Json) => Json, string, string][] = [
      ['id is missing', (e) => without(e, 'id'), 'id', 'required'],
      ['account_id is missing', (e) => without(e, 'account_id'), 'account_id', 'required'],
      ['model is missing', (e) => without(e, 'model'), 'model', 'required'],
      ['prompt_tokens is missing', (e) => without(e, 'prompt_tokens'), 'prompt_tokens', 'required'],
      [
        'completion_tokens is missing',
        (e) => without(e, 'completion_tokens'),
        'completion_tokens',
        'required',
      ],
      ['id is an empty string', (e) => ({ ...e, id: '' }), 'id', 'invalid_length'],
      ['id is a number', (e) => ({ ...e, id: 12345 }), 'id', 'invalid_type'],
      ['account_id is not a UUID', (e) => ({ ...e, account_id: 'acct-1' }), 'account_id', 'invalid_format'],
      ['model is a number', (e) => ({ ...e, model: 4 }), 'model', 'invalid_type'],
      [
        'prompt_tokens is a numeric string',
        (e) => ({ ...e, prompt_tokens: '1200' }),
        'prompt_tokens',
        'invalid_type',
      ],
      [
        'completion_tokens is a boolean',
        (e) => ({ ...e, completion_tokens: true }),
        'completion_tokens',
        'invalid_type',
      ],
      ['cached_tokens is null', (e) => ({ ...e, cached_tokens: null }), 'cached_tokens', 'invalid_type'],
      [
        'prompt_tokens is not an integer',
        (e) => ({ ...e, prompt_tokens: 1200.5 }),
        'prompt_tokens',
        'invalid_type',
      ],
      [
        'reasoning_tokens is not an integer',
        (e) => ({ ...e, reasoning_tokens: 0.5 }),
        'reasoning_tokens',
        'invalid_type',
      ],
      [
        'completion_tokens is negative',
        (e) => ({ ...e, completion_tokens: -1 }),
        'completion_tokens',
        'out_of_range',
      ],
      ['cached_tokens is negative', (e) => ({ ...e, cached_tokens: -1 }), 'cached_tokens', 'out_of_range'],
      [
        'prompt_tokens is over 10^9',
        (e) => ({ ...e, prompt_tokens: 1_000_000_001 }),
        'prompt_tokens',
        'out_of_range',
      ],
      [
        'completion_tokens is over 10^9',
        (e) => ({ ...e, completion_tokens: 1_000_000_001 }),
        'completion_tokens',
        'out_of_range',
      ],
      [
        'cached_tokens exceed prompt_tokens',
        (e) => ({ ...e, prompt_tokens: 100, cached_tokens: 101 }),
        'cached_tokens',
        'exceeds_prompt_tokens',
      ],
      [
        'reasoning_tokens exceed completion_tokens',
        (e) => ({ ...e, completion_tokens: 50, reasoning_tokens: 51 }),
        'reasoning_tokens',
        'exceeds_completion_tokens',
      ],
      ['it has an unknown field', (e) => ({ ...e, cost: '0.000150' }), 'cost', 'unknown_field'],
      ['occurred_at is a number', (e) => ({ ...e, occurred_at: Date.now() }), 'occurred_at', 'invalid_type'],
      [
        'occurred_at is not a date',
        (e) => ({ ...e, occurred_at: 'yesterday' }),
        'occurred_at',
        'invalid_format',
      ],
      [
        'occurred_at has no time zone',
        (e) => ({ ...e, occurred_at: new Date(Date.now() - MINUTE).toISOString().slice(0, 19) }),
        'occurred_at',
        'invalid_format',
      ],
      [
        'occurred_at has a space instead of T',
        (e) => ({ ...e, occurred_at: new Date(Date.now() - MINUTE).toISOString().replace('T', ' ') }),
        'occurred_at',
        'invalid_format',
      ],
      [
        'occurred_at has month 13',
        (e) => ({ ...e, occurred_at: `${new Date().getUTCFullYear()}-13-01T00:00:00Z` }),
        'occurred_at',
        'invalid_format',
      ],
      [
        'occurred_at names a day its month does not have',
        (e) => ({ ...e, occurred_at: impossibleCalendarDate() }),
        'occurred_at',
        'invalid_format',
      ],
      [
        'occurred_at has hour 24',
        (e) => ({
          ...e,
          occurred_at: `${new Date(Date.now() - 2 * DAY).toISOString().slice(0, 10)}T24:00:00Z`,
        }),
        'occurred_at',
        'invalid_format',
      ],
      [
        'occurred_at is more than 5 minutes ahead',
        (e) => ({ ...e, occurred_at: new Date(Date.now() + 6 * MINUTE).toISOString() }),
        'occurred_at',
        'in_future',
      ],
      [
        'occurred_at is older than 35 days',
        (e) => ({ ...e, occurred_at: new Date(Date.now() - 35 * DAY - 3600_000).toISOString() }),
        'occurred_at',
        'too_old',
      ],
      [
        'the account does not exist',
        (e) => ({ ...e, account_id: randomUUID() }),
        'account_id',
        'unknown_account',
      ],
      [
        'the model is not in the catalog',
        (e) => ({ ...e, model: 'acme/no-such-model' }),
        'model',
        'unknown_model',
      ],
      [
        'the model’s only price version starts after occurred_at',
        (e) => ({ ...e, model: LATE_MODEL, occurred_at: new Date(Date.now() - 2 * DAY).toISOString() }),
        'model',
        'unknown_model',
      ],
      [
        'the model’s only price version starts in the future',
        (e) => without({ ...e, model: FUTURE_MODEL }, 'occurred_at'),
        'model',
        'unknown_model',
      ],
      // Costlier events would take the worker's sums past 64 bits and jam the usage queue.
      [
        'its tokens cost more than $100,000,000 at the model’s price',
        (e) => ({ ...e, model: STEEP_MODEL, completion_tokens: 100_000_001, reasoning_tokens: 0 }),
        'completion_tokens',
        'cost_out_of_range',
      ],
      // Postgres's jsonb refuses U+0000 and lone surrogates: one such event would fail every batch
      // charged with it, so ingest refuses it (and nesting past 32 levels) while the gateway can fix it.
      [
        'a metadata string holds U+0000',
        (e) => ({ ...e, metadata: { note: 'a\u0000b' } }),
        'metadata',
        'invalid_metadata',
      ],
      [
        'a nested metadata key holds U+0000',
        (e) => ({ ...e, metadata: { tags: [{ 'k\u0000': 1 }] } }),
        'metadata',
        'invalid_metadata',
      ],
      [
        'a metadata string holds a lone surrogate',
        (e) => ({ ...e, metadata: { note: 'x\ud800' } }),
        'metadata',
        'invalid_metadata',
      ],
      [
        'a nested metadata key is a lone low surrogate',
        (e) => ({ ...e, metadata: { a: { b: { '\udc00': 'v' } } } }),
        'metadata',
        'invalid_metadata',
      ],
      [
        'metadata nests 33 levels deep',
        (e) => ({ ...e, metadata: nestedMetadata(33) }),
        'metadata',
        'invalid_metadata',
      ],
    ];

    it.each(cases)(
      'answers 422 naming index and field when %s, and accepts neither event',
      async (_, breakEvent, field, code) => {
        const response = await ingest({
          events: [validEvent(), breakEvent(validEvent({ account_id: accountB }))],
        });
        await expectRefusedWithoutTrace(response, 422);
        expect(response.body.errors).toContainEqual({ index: 1, field, code, message: expect.any(String) });
        // Every error names the broken event and field, none the valid one.
        for (const error of response.body.errors)
          expect({ index: error.index, field: error.field }).toEqual({ index: 1, field });
      },
    );

    it('says which limit a costly event passed, in USD, and accepts nothing', async () => {
      // 10^8 prompt tokens at $1 / Mtok and 10^8 completion tokens at $1,000,000 / Mtok: $100,000,100.
      const costly = validEvent({
        model: STEEP_MODEL,
        prompt_tokens: 100_000_000,
        cached_tokens: 0,
        completion_tokens: 100_000_000,
        reasoning_tokens: 0,
      });
      const response = await ingest({ events: [costly] });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        {
          index: 0,
          field: 'completion_tokens',
          code: 'cost_out_of_range',
          message: expect.stringContaining('100000000.000000 USD'),
        },
      ]);
    });

    it('answers 422 invalid_metadata, not 500, to 1 MB of nested brackets in metadata, and accepts nothing', async () => {
      const levels = 500_000;
      const event = JSON.stringify(validEvent());
      const body = `{"events":[${event.slice(0, -1)},"metadata":{"a":${'['.repeat(levels)}${']'.repeat(levels)}}}]}`;
      expect(Buffer.byteLength(body)).toBeGreaterThan(levels * 2);
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MIB);
      const response = await ingest(body);
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        {
          index: 0,
          field: 'metadata',
          code: 'invalid_metadata',
          message: expect.stringContaining('32 levels'),
        },
      ]);
    });

    it('says in words what a malformed id, account_id or occurred_at must look like', async () => {
      const response = await ingest({
        events: [
          validEvent({ id: 'has space' }),
          validEvent({ account_id: 'acct-1' }),
          validEvent({ occurred_at: '2026-12-04 09:30:00' }),
        ],
      });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: 0, field: 'id', code: 'invalid_format', message: 'must be printable ASCII without spaces' },
        { index: 1, field: 'account_id', code: 'invalid_format', message: 'must be a UUID' },
        {
          index: 2,
          field: 'occurred_at',
          code: 'invalid_format',
          message: expect.stringContaining('RFC 3339 date-time with a time zone'),
        },
      ]);
    });

    it('answers 422 naming the event when an event is not an object, and accepts nothing', async () => {
      const response = await ingest({ events: [validEvent(), 'not an event'] });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([expect.objectContaining({ index: 1, code: 'invalid_type' })]);
    });

    it('reports every event with a malformed field, each with its own index', async () => {
      const response = await ingest({
        events: [validEvent({ prompt_tokens: -5 }), validEvent(), validEvent({ price: 1 })],
      });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: 0, field: 'prompt_tokens', code: 'out_of_range', message: expect.any(String) },
        { index: 2, field: 'price', code: 'unknown_field', message: expect.any(String) },
      ]);
    });

    it('reports every event with an unknown account or model, each with its own index', async () => {
      const response = await ingest({
        events: [
          validEvent({ model: 'acme/no-such-model' }),
          validEvent(),
          validEvent({ account_id: randomUUID() }),
        ],
      });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: 0, field: 'model', code: 'unknown_model', message: expect.any(String) },
        { index: 2, field: 'account_id', code: 'unknown_account', message: expect.any(String) },
      ]);
    });

    it('refuses 999 valid events and one invalid one with 422 naming only the invalid one, enqueuing nothing', async () => {
      const events = Array.from({ length: 1000 }, (_, i) =>
        validEvent({ account_id: i % 2 ? accountA : accountB }),
      );
      events[637] = { ...events[637], prompt_tokens: 2_000_000_000 };
      const response = await ingest({ events });
      await expectRefusedWithoutTrace(response, 422);
      expect(response.body.errors).toEqual([
        { index: 637, field: 'prompt_tokens', code: 'out_of_range', message: expect.any(String) },
      ]);
    });
  });

  describe('accepted batches', () => {
    async function balances(accountId: string) {
      return {
        postgres: (await stack.stores.postgresBalances()).get(accountId),
        redis: await stack.stores.redisBalance(accountId),
      };
    }

    const cost = (events: Json[]) =>
      events.reduce((sum, event) => sum + expectedCostMicros(event as unknown as TestEvent, PRICES), 0n);

    it('accepts a valid batch with 202 and {accepted, duplicates}, then charges it', async () => {
      const before = await balances(accountA);
      const snapshot = await takeSnapshot(stack);
      const events = [validEvent(), validEvent(), validEvent({ cached_tokens: 0, reasoning_tokens: 0 })];
      const response = await ingest({ events });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: 3, duplicates: 0 });
      // What the refusal tests look for is what an accepted batch leaves: one queued job, a marker per event.
      expect(await usageJobsAddedSince(stack, snapshot.queueStreamId)).toHaveLength(1);
      expect((await takeSnapshot(stack)).acceptedMarkers).toHaveLength(snapshot.acceptedMarkers.length + 3);
      await stack.drained();
      expect(
        (
          await eventRows(
            accountA,
            events.map((e) => e.id as string),
          )
        ).length,
      ).toBe(3);
      const expected = before.postgres! - cost(events);
      expect(await balances(accountA)).toEqual({ postgres: expected, redis: expected });
      expect((await stack.gateway.get(`/v1/accounts/${accountA}/balance`)).body.balance).toBe(usd(expected));
    });

    it('counts an id repeated inside one request as a duplicate and charges it once', async () => {
      const before = await balances(accountA);
      const repeated = validEvent();
      const other = validEvent();
      const response = await ingest({ events: [repeated, other, repeated, { ...repeated }] });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: 2, duplicates: 2 });
      await stack.drained();
      expect((await eventRows(accountA, [repeated.id as string, other.id as string])).length).toBe(2);
      const expected = before.postgres! - cost([repeated, other]);
      expect(await balances(accountA)).toEqual({ postgres: expected, redis: expected });
    });

    it('counts events resent in a later request as duplicates and charges them once', async () => {
      const before = await balances(accountB);
      const first = [validEvent({ account_id: accountB }), validEvent({ account_id: accountB })];
      const fresh = validEvent({ account_id: accountB });
      const firstResponse = await ingest({ events: first });
      expect(firstResponse.body).toEqual({ accepted: 2, duplicates: 0 });
      const retry = await ingest({ events: [...first, fresh] });
      expect(retry.status).toBe(202);
      expect(retry.body).toEqual({ accepted: 1, duplicates: 2 });
      await stack.drained();
      const ids = [...first, fresh].map((e) => e.id as string);
      expect((await eventRows(accountB, ids)).length).toBe(3);
      const expected = before.postgres! - cost([...first, fresh]);
      expect(await balances(accountB)).toEqual({ postgres: expected, redis: expected });
    });

    it('stores and charges once the same events sent twice at the same moment', async () => {
      const before = await balances(accountA);
      const events = [validEvent(), validEvent()];
      const [a, b] = await Promise.all([ingest({ events }), ingest({ events })]);
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(a.body.accepted + a.body.duplicates).toBe(2);
      expect(b.body.accepted + b.body.duplicates).toBe(2);
      await stack.drained();
      expect(
        (
          await eventRows(
            accountA,
            events.map((e) => e.id as string),
          )
        ).length,
      ).toBe(2);
      const expected = before.postgres! - cost(events);
      expect(await balances(accountA)).toEqual({ postgres: expected, redis: expected });
      expect((await ingest({ events })).body).toEqual({ accepted: 0, duplicates: 2 });
    });

    it('accepts the valid events of a refused batch when they are resent alone', async () => {
      const good = [validEvent(), validEvent({ account_id: accountB })];
      expect((await ingest({ events: [...good, validEvent({ prompt_tokens: -1 })] })).status).toBe(422);
      const response = await ingest({ events: good });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: 2, duplicates: 0 });
      await stack.drained();
    });

    it('accepts usage for an account and a model created a moment before', async () => {
      const account = await stack.createAccount();
      const model = `acme/brand-new-${randomUUID().slice(0, 8)}`;
      const priced = await stack.admin.put(`/v1/admin/models/${encodeURIComponent(model)}`, {
        prompt_price_per_mtok: '1.00',
        completion_price_per_mtok: '1.00',
      });
      expect(priced.status).toBeLessThan(300);
      const response = await ingest({
        events: [validEvent({ account_id: account, model, occurred_at: undefined })],
      });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: 1, duplicates: 0 });
      await stack.drained();
    });

    it('treats one event id used by two accounts as two events', async () => {
      const id = randomUUID();
      const response = await ingest({
        events: [validEvent({ id }), validEvent({ id, account_id: accountB })],
      });
      expect(response.body).toEqual({ accepted: 2, duplicates: 0 });
      await stack.drained();
      expect((await eventRows(accountA, [id])).length).toBe(1);
      expect((await eventRows(accountB, [id])).length).toBe(1);
    });

    it('accepts the limits themselves: 0 and 10^9 tokens, 4 minutes ahead, 34 days old', async () => {
      const events = [
        validEvent({
          model: FREE_MODEL,
          prompt_tokens: 0,
          completion_tokens: 0,
          cached_tokens: 0,
          reasoning_tokens: 0,
        }),
        validEvent({
          model: FREE_MODEL,
          prompt_tokens: 1_000_000_000,
          completion_tokens: 1_000_000_000,
          cached_tokens: 1_000_000_000,
          reasoning_tokens: 1_000_000_000,
        }),
        validEvent({ occurred_at: new Date(Date.now() + 4 * MINUTE).toISOString() }),
        validEvent({ occurred_at: new Date(Date.now() - 34 * DAY).toISOString() }),
        without(without(validEvent(), 'cached_tokens'), 'reasoning_tokens'),
        without(validEvent(), 'occurred_at'),
      ];
      const response = await ingest({ events });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: events.length, duplicates: 0 });
      await stack.drained();
      expect(
        (
          await eventRows(
            accountA,
            events.map((e) => e.id as string),
          )
        ).length,
      ).toBe(events.length);
    });

    it('stores metadata at the limits: 32 levels deep, surrogate pairs, a backslash before u0000', async () => {
      const metadata = { ...nestedMetadata(32), emoji: '😀', '😀': 'ok', path: 'C:\\u0000' };
      const event = validEvent({ metadata });
      expect((await ingest({ events: [event] })).status).toBe(202);
      await stack.drained();
      const [row] = await stack.stores.sql<{ metadata: Json }[]>`
        select metadata from usage_events where account_id = ${accountA} and event_id = ${event.id as string}`;
      expect(row.metadata).toEqual(metadata);
    });

    it('accepts exactly 1,000 events in one request', async () => {
      const events = Array.from({ length: 1000 }, () => validEvent({ model: FREE_MODEL }));
      const response = await ingest({ events });
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: 1000, duplicates: 0 });
      await stack.drained();
      expect(
        (
          await eventRows(
            accountA,
            events.map((e) => e.id as string),
          )
        ).length,
      ).toBe(1000);
    });

    it('accepts a body of exactly 1 MiB', async () => {
      const event = validEvent();
      const json = JSON.stringify({ events: [event] });
      const body = json.slice(0, -1) + ' '.repeat(MIB - Buffer.byteLength(json)) + '}';
      expect(Buffer.byteLength(body)).toBe(MIB);
      const response = await ingest(body);
      expect(response.status).toBe(202);
      expect(response.body).toEqual({ accepted: 1, duplicates: 0 });
      await stack.drained();
      expect((await eventRows(accountA, [event.id as string])).length).toBe(1);
    });
  });

  describe('when the usage queue is over its limit', () => {
    let queued: Json[];
    let refused: Json[];
    let before: StoreSnapshot;
    let response: Awaited<ReturnType<typeof ingest>>;

    beforeAll(async () => {
      await stack.drained();
      // No worker and a limit of one queued job: the first batch stays queued; the second, sent
      // to a queue at its limit (not over it), is taken too, and then the queue is over its limit.
      await Promise.all(stack.workers.map((worker) => worker.stop()));
      await stack.ingest.stop();
      await stack.ingest.start({ INGEST_MAX_QUEUED_JOBS: '1' });
      queued = [validEvent(), validEvent()];
      for (const event of queued) {
        const answer = await ingest({ events: [event] });
        if (answer.status !== 202 || answer.body.accepted !== 1)
          throw new Error(`batch of ${event.id}: ${JSON.stringify(answer)}`);
      }
      if ((await stack.stores.usageJobsOutstanding()) !== 2)
        throw new Error('the two batches are not queued');
      before = await takeSnapshot(stack);
      refused = [validEvent(), validEvent({ account_id: accountB })];
      response = await ingest({ events: refused });
    });

    it('answers 503 with a Retry-After header in seconds', async () => {
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.body.error).toEqual({ code: expect.any(String), message: expect.any(String) });
      expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    });

    it('enqueues nothing and remembers none of the refused event ids', async () => {
      expect(await usageJobsAddedSince(stack, before.queueStreamId)).toEqual([]);
      expect(await stack.stores.usageJobsOutstanding()).toBe(2);
      await expectNothingReachedStores(stack, before);
    });

    it('charges only the queued batches once a worker drains the queue, and accepts the refused batch when resent', async () => {
      await stack.workers[0].start();
      await stack.drained();
      const persisted = await stack.stores.sql<{ event_id: string }[]>`
        select event_id from usage_events where event_id = any(${[...queued, ...refused].map((e) => e.id) as string[]})`;
      expect(persisted.map((row) => row.event_id).sort()).toEqual(queued.map((e) => e.id).sort());

      const retry = await ingest({ events: refused });
      expect(retry.status).toBe(202);
      expect(retry.body).toEqual({ accepted: 2, duplicates: 0 });
    });
  });
  describe('when the request bodies in flight are over their budget', () => {
    const BUDGET = 100_000;
    let held: Socket;
    let before: StoreSnapshot;

    /** A valid batch of one event, padded with whitespace to exactly `bytes`. */
    function paddedBatch(bytes: number): { body: string; event: Json } {
      const event = validEvent();
      const json = JSON.stringify({ events: [event] });
      return { body: json.slice(0, -1) + ' '.repeat(bytes - Buffer.byteLength(json)) + '}', event };
    }

    const bytesInFlight = async () => {
      const metrics = await (await fetch(`${stack.ingest.url}/metrics`)).text();
      return Number(/^billing_ingest_body_bytes_in_flight\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
    };

    beforeAll(async () => {
      await stack.drained();
      await stack.ingest.stop();
      await stack.ingest.start({ INGEST_MAX_BODY_BYTES_IN_FLIGHT: String(BUDGET) });
      held = rawConnection(STALLED_BATCH).socket;
      await waitFor(bytesInFlight, (bytes) => bytes === 90_000, { what: 'the held request to count' });
      before = await takeSnapshot(stack);
    });

    afterAll(() => held.destroy());

    it('answers 503 overloaded with Retry-After to a batch that would pass the budget, and keeps nothing of it', async () => {
      const { body } = paddedBatch(20_000);
      const response = await ingest(body);
      expect(response.status).toBe(503);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(response.body.error).toEqual({ code: 'overloaded', message: expect.any(String) });
      expect(response.headers.get('retry-after')).toBe('1');
      expect(await usageJobsAddedSince(stack, before.queueStreamId)).toEqual([]);
      await expectNothingReachedStores(stack, before);
      const metrics = await (await fetch(`${stack.ingest.url}/metrics`)).text();
      expect(metrics).toMatch(/^billing_ingest_requests_shed_total\{[^}]*\} 1$/m);
    });

    it('still takes a batch that fits beside the held one', async () => {
      const { body, event } = paddedBatch(5_000);
      const response = await ingest(body);
      expect(response).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 0 } });
      await stack.drained();
      expect((await eventRows(accountA, [event.id as string])).length).toBe(1);
    });

    it('takes the refused size again once the held request is gone', async () => {
      held.destroy();
      await waitFor(bytesInFlight, (bytes) => bytes === 0, { what: 'the held bytes to be released' });
      const response = await ingest(paddedBatch(20_000).body);
      expect(response).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 0 } });
    });

    describe('and a gateway sends its body too slowly', () => {
      let slow: Socket;
      let answer: Promise<string>;

      beforeAll(async () => {
        await stack.drained();
        await stack.ingest.stop();
        await stack.ingest.start({
          INGEST_MAX_BODY_BYTES_IN_FLIGHT: String(BUDGET),
          INGEST_REQUEST_TIMEOUT_MS: '1000',
        });
        // Then nothing more: the connection stays open.
        ({ socket: slow, answer } = rawConnection(STALLED_BATCH));
        await waitFor(bytesInFlight, (bytes) => bytes === 90_000, { what: 'the slow request to count' });
        before = await takeSnapshot(stack);
      });

      afterAll(() => slow.destroy());

      it('answers 408 request_timeout, closes the connection and gives its share of the budget back', async () => {
        const [head, body] = (await answer).split('\r\n\r\n');
        expect(head).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
        expect(head).toMatch(/\r\ncontent-type: application\/json/i);
        expect(JSON.parse(body)).toEqual({ error: { code: 'request_timeout', message: expect.any(String) } });
        await waitFor(bytesInFlight, (bytes) => bytes === 0, { what: 'the slow request to be released' });
        expect(await clientErrors('request_timeout')).toBe(1);
        expect(await usageJobsAddedSince(stack, before.queueStreamId)).toEqual([]);
        await expectNothingReachedStores(stack, before);

        // The room it held takes a batch that would not have fitted beside it.
        const { body: batch, event } = paddedBatch(20_000);
        expect(await ingest(batch)).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 0 } });
        await stack.drained();
        expect((await eventRows(accountA, [event.id as string])).length).toBe(1);
      });
    });
  });
});

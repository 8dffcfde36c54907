import { QueueName } from '@app/queue';
import { Queue } from 'bullmq';
import { isDeepStrictEqual } from 'node:util';
import { accountWithEmail, FAST_SWEEP, raiseAlert, settledDeliveries } from '../notifications/alert-fixtures';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { openStackQueue } from '../support/payments-queue';
import { waitFor } from '../support/wait-for';

const MODEL = 'acme/worker-roles';

/** How many BullMQ workers consume each queue (BullMQ names their connections after the queue). */
async function consumersOf(queues: Queue[]): Promise<Record<string, number>> {
  const counts = await Promise.all(
    queues.map(async (queue) => [queue.name, (await queue.getWorkers()).length]),
  );
  return Object.fromEntries(counts);
}

function waitForConsumers(
  queues: Queue[],
  expected: Record<string, number>,
): Promise<Record<string, number>> {
  return waitFor(
    () => consumersOf(queues),
    (counts) => isDeepStrictEqual(counts, expected),
    { what: `queue consumers ${JSON.stringify(expected)}` },
  );
}

/**
 * npm start and docker-compose.yml run the worker as two processes: WORKER_ROLE=usage meters usage
 * and runs nothing else; WORKER_ROLE=background runs every other job (here an alert email). A
 * backlog of PDFs or emails then never shares the metering process, nor its memory.
 */
describe('worker roles', () => {
  const stack = new BillingStack({ smtp: true, workers: 0 });
  let queues: Queue[] = [];

  beforeAll(async () => {
    await stack.start();
    queues = Object.values(QueueName).map((name) => openStackQueue(stack, name));
  });

  afterAll(async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    await stack.stop();
  });

  it('a usage worker meters usage only; a background worker runs the other jobs', async () => {
    const env = { ...stack.appEnv, ...FAST_SWEEP };
    const usage = new AppProcess('usage-worker', { ...env, WORKER_ROLE: 'usage' });
    stack.workers.push(usage);
    await usage.start();

    await stack.setPrice(MODEL, '2.00', '4.00');
    const account = await accountWithEmail(stack, 'roles');
    await stack.grant(account.id, '1');
    const sent = await stack.gateway.post('/v1/usage/events', {
      events: [
        { id: 'r-1', account_id: account.id, model: MODEL, prompt_tokens: 1000, completion_tokens: 500 },
      ],
    });
    expect(sent.body).toEqual({ accepted: 1, duplicates: 0 });
    // 1,000 × $2 + 500 × $4 per million tokens = $0.004.
    await waitFor(
      async () => (await stack.gateway.get(`/v1/accounts/${account.id}/balance`)).body.balance,
      (balance) => balance === '0.996000',
      { what: 'the usage worker to charge the event' },
    );
    const alertId = await raiseAlert(stack, account.id, 'auto_reload_declined');

    await waitForConsumers(queues, {
      'usage-events': 1,
      maintenance: 0,
      payments: 0,
      invoices: 0,
      emails: 0,
    });
    // Its /metrics shows the depth of the queue it consumes, and only that one.
    const metrics = await (await fetch(`${usage.url}/metrics`)).text();
    expect(metrics).toContain('billing_queue_jobs{queue="usage-events",state="waiting",app="usage-worker"}');
    expect(metrics).not.toMatch(/billing_queue_jobs\{queue="(maintenance|payments|invoices|emails)"/);

    const background = new AppProcess('usage-worker', { ...env, WORKER_ROLE: 'background' });
    stack.workers.push(background);
    await background.start();

    const [delivery] = await settledDeliveries(stack, alertId, 1);
    expect(delivery).toMatchObject({ recipient: account.email, status: 'sent' });
    await stack.smtp!.waitForMessages(account.email, 1);
    await waitForConsumers(queues, {
      'usage-events': 1,
      maintenance: 1,
      payments: 1,
      invoices: 1,
      emails: 1,
    });
    const backgroundMetrics = await (await fetch(`${background.url}/metrics`)).text();
    expect(backgroundMetrics).toContain(
      'billing_queue_jobs{queue="emails",state="waiting",app="background-worker"}',
    );
    expect(backgroundMetrics).not.toContain('queue="usage-events"');
  });
});

import { JobName, QueueName } from '@app/queue';
import { Queue, QueueEvents } from 'bullmq';
import Redis from 'ioredis';
import { AppProcess } from '../support/app-process';
import { BillingStack } from '../support/billing-stack';
import { saveCard } from '../support/cards';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';
import { buyAndGetInvoice, recordedPdf, setBillingProfile, sha256 } from './invoice-pdf-helpers';

/**
 * Judged d: the worker rendering an invoice is killed (SIGKILL, FAILPOINT=mid-render) after the
 * PDF is in S3 and before the invoice records it. After a restart the job is redelivered, finds
 * the same object and records it: exactly one object, and a forced re-render gives the same bytes.
 */
describe('invoice render worker killed mid-job', () => {
  const stack = new BillingStack({
    workers: 1,
    stripe: true,
    s3: true,
    workerEnv: { FAILPOINT: 'mid-render' },
  });
  let ws: Workspace;
  let invoice: any;
  let queue: Queue;
  let events: QueueEvents;
  const connections: Redis[] = [];
  const connect = () => {
    const connection = new Redis(stack.stores.redisUrl, { maxRetriesPerRequest: null });
    connections.push(connection);
    return connection;
  };

  beforeAll(async () => {
    await stack.start();
    ws = await Workspace.create(stack);
    await setBillingProfile(stack, ws);
    await saveCard(stack, ws);
    const bull = { prefix: stack.stores.bullPrefix };
    queue = new Queue(QueueName.Invoices, { ...bull, connection: connect() });
    events = new QueueEvents(QueueName.Invoices, { ...bull, connection: connect() });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await queue?.close();
    await events?.close();
    for (const connection of connections) connection.disconnect();
    await stack.stop();
  });

  it('leaves exactly one object after the restart, recorded with its hash', async () => {
    invoice = await buyAndGetInvoice(stack, ws, '120.00');
    const doomed = stack.workers[0];
    expect(await doomed.waitForExit()).toBeNull(); // SIGKILL at the failpoint, not a clean exit

    const key = `invoices/${ws.accountId}/${invoice.number}.pdf`;
    // Killed between upload and record: the object is there, the invoice does not know it yet.
    expect(await stack.s3!.keys(`invoices/${ws.accountId}/`)).toEqual([key]);
    expect(await recordedPdf(stack, invoice.id)).toMatchObject({ pdf_key: null, pdf_sha256: null });
    const uploaded = await stack.s3!.storage.getBuffer(key);

    const survivor = new AppProcess('usage-worker', { ...stack.appEnv, USAGE_LOCK_DURATION_MS: '3000' });
    stack.workers.push(survivor);
    await survivor.start();
    const recorded = await waitFor(
      () => recordedPdf(stack, invoice.id),
      (row) => row.pdf_sha256 !== null,
      {
        what: 'the redelivered job to record the PDF',
      },
    );

    expect(recorded.pdf_key).toBe(key);
    expect(await stack.s3!.keys(`invoices/${ws.accountId}/`)).toEqual([key]);
    const stored = await stack.s3!.storage.getBuffer(key);
    expect(sha256(stored)).toBe(recorded.pdf_sha256);
    expect(stored.equals(uploaded)).toBe(true);
  });

  it('renders identical bytes when forced to render again, into the same single object', async () => {
    const key = `invoices/${ws.accountId}/${invoice.number}.pdf`;
    const before = await stack.s3!.storage.getBuffer(key);
    const recordedBefore = await recordedPdf(stack, invoice.id);
    // Gone from S3, so the forced render really draws and uploads it again.
    await stack.s3!.storage.delete(key);

    const job = await queue.add(JobName.RenderInvoice, { invoiceId: invoice.id, force: true });
    const result = await job.waitUntilFinished(events, 30_000);

    expect(result).toMatchObject({ kind: 'rendered', key, sha256: recordedBefore.pdf_sha256 });
    const after = await stack.s3!.storage.getBuffer(key);
    expect(after.equals(before)).toBe(true);
    expect(await stack.s3!.keys(`invoices/${ws.accountId}/`)).toEqual([key]);
    expect(await recordedPdf(stack, invoice.id)).toEqual(recordedBefore);
  });
});

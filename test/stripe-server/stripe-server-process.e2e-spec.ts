import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Stripe from 'stripe';
import { freePort } from '../support/app-process';
import { waitFor } from '../support/wait-for';
import { WebhookReceiver } from './support/stripe-test-server';

const ROOT = join(__dirname, '..', '..');
const MAIN = join(ROOT, 'dist', 'apps', 'stripe-server', 'src', 'main.js');

/** The compiled app as `npm start` / docker-compose will run it, configured by environment only. */
function startApp(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('stripe-server app process', () => {
  const receiver = new WebhookReceiver('whsec_process_test_secret');
  let app: ReturnType<typeof startApp>;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    app = startApp({
      STRIPE_SERVER_PORT: String(port),
      STRIPE_WEBHOOK_URL: await receiver.start(),
      STRIPE_WEBHOOK_SECRET: 'whsec_process_test_secret',
    });
    await waitFor(
      async () => {
        if (app.child.exitCode !== null) throw new Error(`exited: ${app.output()}`);
        return (await fetch(`http://127.0.0.1:${port}/health/ready`)).status;
      },
      (status) => status === 200,
      { what: 'the stripe-server app to listen' },
    );
  });

  afterAll(async () => {
    app.child.kill('SIGTERM');
    await exitOf(app.child);
    await receiver.stop();
  });

  it('names its process billing-stripe-server', () => {
    expect(readFileSync(`/proc/${app.child.pid}/cmdline`, 'utf8')).toContain('billing-stripe-server');
  });

  it('serves the SDK and signs webhooks with STRIPE_WEBHOOK_SECRET', async () => {
    const stripe = new Stripe('sk_test_process', {
      telemetry: false,
      host: '127.0.0.1',
      port,
      protocol: 'http',
    });
    const paymentIntent = await stripe.paymentIntents.create({
      amount: 1200,
      currency: 'usd',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    expect(paymentIntent.status).toBe('succeeded');
    await waitFor(
      () => receiver.eventsOfType('payment_intent.succeeded'),
      (events) => events.length === 1,
      { what: 'payment_intent.succeeded at the receiver' },
    );
    expect(receiver.rejected).toEqual([]);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    const other = startApp({ STRIPE_SERVER_PORT: String(await freePort()) });
    await waitFor(
      () => other.output(),
      (text) => text.includes('listening on'),
      { what: 'the second app to start' },
    );
    other.child.kill('SIGTERM');
    expect(await exitOf(other.child)).toBe(0);
  });

  it('refuses to start with an invalid variable, naming it', async () => {
    const broken = startApp({ STRIPE_WEBHOOK_SECRET: 'not-a-webhook-secret' });
    expect(await exitOf(broken.child)).toBe(1);
    expect(broken.output()).toContain('STRIPE_WEBHOOK_SECRET');
  });
});

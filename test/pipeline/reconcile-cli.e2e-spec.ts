import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BillingStack } from '../support/billing-stack';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'dist', 'apps', 'usage-worker', 'src', 'reconcile.main.js');

/**
 * `npm run reconcile`, README's "Reconcile now": one pass from the command line, as ops run it
 * against the deployment's Postgres and Redis, repairing a balance that drifted and printing the
 * report.
 */
describe('npm run reconcile', () => {
  const stack = new BillingStack({ workers: 1 });

  beforeAll(() => stack.start(), 120_000);
  afterAll(() => stack.stop());

  async function reconcile(): Promise<Record<string, unknown>> {
    const { stdout } = await run(process.execPath, [CLI], {
      env: { PATH: process.env.PATH ?? '', ...stack.appEnv },
    });
    return JSON.parse(stdout.trim());
  }

  it('repairs a Redis balance that drifted from Postgres, reports it, and finds nothing the second time', async () => {
    const drifted = await stack.createAccount();
    const exact = await stack.createAccount();
    await stack.grant(drifted, '10');
    await stack.grant(exact, '20');
    // Redis lost a change of $1.25 (as a restart without persistence might): Postgres holds $10.
    await stack.stores.redis.hset(`${stack.stores.prefix}:acct:{${drifted}}:b`, 'bal', '11250000');

    expect(await reconcile()).toEqual({
      accounts_checked: 2,
      drifted: 1,
      drift: '1.250000',
      repaired: 1,
      busy: 0,
      orphans_settled: 0,
      reservations_dropped: 0,
    });
    expect(await stack.stores.redisBalance(drifted)).toBe(10_000_000n);
    expect(await stack.stores.redisBalance(exact)).toBe(20_000_000n);
    expect(await reconcile()).toMatchObject({ accounts_checked: 2, drifted: 0, repaired: 0 });
  });

  it("shows its last pass on the api's /metrics, which no pass of the api itself changes", async () => {
    const before = Date.now() / 1000;
    const drifted = await stack.createAccount();
    await stack.grant(drifted, '10');
    await stack.stores.redis.hset(`${stack.stores.prefix}:acct:{${drifted}}:b`, 'bal', '10500000');
    await reconcile();

    const text = await (await fetch(`${stack.api.url}/metrics`)).text();
    const passedAt = /^billing_reconcile_cli_last_pass_timestamp_seconds\{app="api"\} (\S+)$/m.exec(
      text,
    )?.[1];
    expect(Number(passedAt)).toBeGreaterThanOrEqual(Math.floor(before));
    expect(text).toContain('billing_reconcile_cli_drift_micros{app="api"} 500000\n');
    expect(text).toContain('billing_reconcile_cli_drift_accounts{app="api"} 1\n');
    // The api's own gauges describe its own passes (none here).
    expect(text).toContain('billing_reconcile_last_pass_timestamp_seconds{app="api"} 0\n');
  });
});

import { loadConfig, MAX_USAGE_BATCHES_PER_GROUP, workerEnvSchema } from '@app/config';
import { MAX_EVENT_COST_MICROS } from '@app/money';
import { MAX_EVENTS_PER_REQUEST } from '../usage-batch.schema';

const INT64_MAX = 2n ** 63n - 1n;

/**
 * A group's sums (each account's charge, the group's total) are 64-bit integers in Redis and
 * Postgres. The largest group the worker accepts, every batch full of the costliest events ingest
 * lets through, must fit twice over: the account may already be that far below zero from an earlier
 * group (README, Money).
 */
describe('the largest usage group', () => {
  it('charges a sum that stays inside 64 bits', () => {
    const worst =
      BigInt(MAX_USAGE_BATCHES_PER_GROUP) * BigInt(MAX_EVENTS_PER_REQUEST) * MAX_EVENT_COST_MICROS;
    expect(2n * worst).toBeLessThan(INT64_MAX);
  });

  it('is the most USAGE_BATCHES_PER_GROUP accepts at boot', () => {
    const config = (value: number) => () =>
      loadConfig(workerEnvSchema, { USAGE_BATCHES_PER_GROUP: String(value) }).USAGE_BATCHES_PER_GROUP;
    expect(config(MAX_USAGE_BATCHES_PER_GROUP)()).toBe(MAX_USAGE_BATCHES_PER_GROUP);
    expect(config(MAX_USAGE_BATCHES_PER_GROUP + 1)).toThrow(/USAGE_BATCHES_PER_GROUP/);
  });
});

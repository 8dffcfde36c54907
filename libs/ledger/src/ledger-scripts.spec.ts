import { RedisKeys } from '@app/redis';
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { defineLedgerScripts } from './ledger-scripts';

/** The ledger's Lua scripts against a real Redis, under a key prefix of this run's own. */
describe('ledger Lua scripts', () => {
  const redis = defineLedgerScripts(new Redis(process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'));
  const keys = new RedisKeys(`spec-${randomUUID().slice(0, 8)}`);
  let account: string;
  let bal: string;
  let pend: string;

  beforeEach(() => {
    account = randomUUID();
    bal = keys.balance(account);
    pend = keys.pending(account);
  });

  afterAll(async () => {
    const found = await redis.keys(`${keys.prefix}:*`);
    if (found.length > 0) await redis.del(...found);
    redis.disconnect();
  });

  const balance = async () => BigInt((await redis.hget(bal, 'bal')) ?? 'NaN');

  it('asks for a seed when the balance is not in Redis', async () => {
    expect(await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '')).toEqual([
      'missing',
      'balance',
      '0',
      '0',
      '',
    ]);
    expect(await redis.exists(bal, pend)).toBe(0);
  });

  it('seeds a missing balance and applies the change in the same call', async () => {
    expect(await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000')).toEqual([
      'created',
      't1',
      '1000',
      '900',
      '',
    ]);
    expect(await redis.hget(pend, 'batch-1')).toBe('-100:t1');
  });

  it('applies a change key once while it is pending', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    expect(await redis.reserveChange(bal, pend, 'batch-1', '-100', 't2', '')).toEqual([
      'exists',
      't1',
      '900',
      '900',
      '',
    ]);
    expect(await balance()).toBe(900n);
  });

  it('settles to the committed amount when Postgres recorded the same token', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    // 30 micros of the batch were duplicates: Postgres committed only -70.
    expect(await redis.settleChange(bal, pend, 'batch-1', 't1', '-70')).toEqual([1, '930']);
    expect(await redis.hexists(pend, 'batch-1')).toBe(0);
  });

  it('changes nothing when settled twice', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    await redis.settleChange(bal, pend, 'batch-1', 't1', '-100');
    expect(await redis.settleChange(bal, pend, 'batch-1', 't1', '-100')).toEqual([0, '900']);
    expect(await balance()).toBe(900n);
  });

  it('undoes a pending change applied after its commit was already settled', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    await redis.settleChange(bal, pend, 'batch-1', 't1', '-100');
    // A redelivery after the settlement deducts again under a new token...
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't2', '');
    expect(await balance()).toBe(800n);
    // ...and Postgres says the batch was committed under t1: the second deduction is undone.
    await redis.settleChange(bal, pend, 'batch-1', 't1', '-100');
    expect(await balance()).toBe(900n);
  });

  it('undoes a pending change when nothing was committed', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    await redis.settleChange(bal, pend, 'batch-1', '', '0');
    expect(await balance()).toBe(1000n);
  });

  it('shows a credit only when it settles', async () => {
    await redis.reserveChange(bal, pend, 'grant:k', '0', 't1', '1000');
    expect(await balance()).toBe(1000n);
    await redis.settleChange(bal, pend, 'grant:k', 't1', '2500');
    expect(await balance()).toBe(3500n);
  });

  it('never overwrites a balance with a seed', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    expect(await redis.seedBalance(bal, '5000')).toBe('900');
  });

  it('repairs by the correction only when nothing moved since the read', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    const gen = (await redis.hget(bal, 'gen'))!;
    await redis.settleChange(bal, pend, 'batch-1', 't1', '-100');
    expect(await redis.repairBalance(bal, gen, '-23')).toBe('moved');
    const settledGen = (await redis.hget(bal, 'gen'))!;
    expect(await redis.repairBalance(bal, settledGen, '-23')).toBe('repaired');
    expect(await balance()).toBe(877n);
    expect(await redis.hget(bal, 'gen')).not.toBe(settledGen);
    await redis.del(bal);
    expect(await redis.repairBalance(bal, settledGen, '-23')).toBe('missing');
  });

  it('never starts a balance seeded anew from a gen the lost one reached', async () => {
    const history = async () => {
      await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
      await redis.settleChange(bal, pend, 'batch-1', 't1', '-100');
    };
    await history();
    const gen = (await redis.hget(bal, 'gen'))!;
    await redis.del(bal, pend); // Redis lost the account; the same history happens again
    await history();
    expect(await redis.hget(bal, 'gen')).not.toBe(gen);
    expect(await redis.repairBalance(bal, gen, '-23')).toBe('moved');
    expect(await balance()).toBe(900n);

    for (const seed of [
      () => redis.seedBalance(bal, '1000'),
      () => redis.retryAutoReload(bal, pend, 'r', 't', '0', '', '1000', '0'),
    ]) {
      await redis.del(bal, pend);
      await seed();
      expect(await redis.hget(bal, 'gen')).not.toBe('0');
    }
  });

  it('records when an attempt last reached a pending change, and drops it at settle', async () => {
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't1', '1000');
    expect(await redis.hget(pend, 'batch-1|t')).toBeNull(); // the token says when it was made
    const [seconds] = await redis.time();
    await redis.reserveChange(bal, pend, 'batch-1', '-100', 't2', '');
    const touched = Number(await redis.hget(pend, 'batch-1|t'));
    expect(Math.abs(touched - Number(seconds) * 1000)).toBeLessThan(5_000);
    await redis.settleChange(bal, pend, 'batch-1', 't1', '-100');
    expect(await redis.hlen(pend)).toBe(0);
  });

  it('stays exact for balances far beyond 2^53 micros', async () => {
    const huge = 9_000_000_000_000_000_123n; // about $9 trillion: above 2^53, below 2^63
    const reply = await redis.reserveChange(bal, pend, 'batch-1', '-7', 't1', huge.toString());
    expect(reply).toEqual(['created', 't1', huge.toString(), (huge - 7n).toString(), '']);
    expect(await redis.settleChange(bal, pend, 'batch-1', 't1', '-5')).toEqual([1, (huge - 5n).toString()]);
    expect(await balance()).toBe(huge - 5n);
  });

  describe('auto-reload threshold', () => {
    it('reports a crossing when a deduction moves the balance from the threshold to below it', async () => {
      expect(await redis.reserveChange(bal, pend, 'batch-1', '-1', 't1', '1000', '1000')).toEqual([
        'created',
        't1#1',
        '1000',
        '999',
        '1',
      ]);
      expect(await redis.hget(bal, 'reloads')).toBe('1');
      expect(await redis.hget(pend, 'batch-1')).toBe('-1:t1#1');
    });

    it('reports no crossing for a deduction that stays at or above the threshold', async () => {
      const reply = await redis.reserveChange(bal, pend, 'batch-1', '-500', 't1', '1500', '1000');
      expect(reply).toEqual(['created', 't1', '1500', '1000', '']);
      expect(await redis.hexists(bal, 'reloads')).toBe(0);
    });

    it('reports no crossing for a deduction that starts below the threshold', async () => {
      await redis.reserveChange(bal, pend, 'batch-1', '-600', 't1', '1500', '1000');
      const reply = await redis.reserveChange(bal, pend, 'batch-2', '-100', 't2', '', '1000');
      expect(reply).toEqual(['created', 't2', '900', '800', '']);
      expect(await redis.hget(bal, 'reloads')).toBe('1');
    });

    it('reports no crossing without a threshold', async () => {
      const reply = await redis.reserveChange(bal, pend, 'batch-1', '-600', 't1', '1500', '');
      expect(reply).toEqual(['created', 't1', '1500', '900', '']);
    });

    it('does not cross again when a redelivered change finds its pending entry', async () => {
      await redis.reserveChange(bal, pend, 'batch-1', '-600', 't1', '1500', '1000');
      const again = await redis.reserveChange(bal, pend, 'batch-1', '-600', 't2', '', '1000');
      // The token of the pending entry still names its crossing; no new one is counted.
      expect(again).toEqual(['exists', 't1#1', '900', '900', '']);
      expect(await redis.hget(bal, 'reloads')).toBe('1');
      expect(await redis.settleChange(bal, pend, 'batch-1', 't1#1', '-600')).toEqual([1, '900']);
    });

    it('continues crossing numbers from Postgres when Redis lost the balance', async () => {
      // Crossings 1-7 already ran as reloads; reusing their numbers would make new ones no-ops.
      const reply = await redis.reserveChange(bal, pend, 'batch-1', '-600', 't1', '1500', '1000', '7');
      expect(reply).toEqual(['created', 't1#8', '1500', '900', '8']);
      await redis.del(bal);
      expect(await redis.seedBalance(bal, '1500', '9')).toBe('1500');
      expect(await redis.hget(bal, 'reloads')).toBe('9');
    });

    it('numbers a second crossing after the balance recovered', async () => {
      await redis.reserveChange(bal, pend, 'batch-1', '-600', 't1', '1500', '1000');
      await redis.settleChange(bal, pend, 'batch-1', 't1#1', '-600');
      await redis.reserveChange(bal, pend, 'reload-1', '0', 't2', '', '1000');
      await redis.settleChange(bal, pend, 'reload-1', 't2', '2000');
      const reply = await redis.reserveChange(bal, pend, 'batch-2', '-2000', 't3', '', '1000');
      expect(reply).toEqual(['created', 't3#2', '2900', '900', '2']);
    });

    it('counts exactly one crossing among concurrent deductions', async () => {
      await redis.reserveChange(bal, pend, 'seed', '0', 't0', '10000', '5000');
      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          redis.reserveChange(bal, pend, `batch-${i}`, '-250', `t${i}`, '', '5000'),
        ),
      );
      expect(replies.filter((reply) => reply[4] !== '')).toEqual([
        ['created', expect.stringMatching(/#1$/), '5000', '4750', '1'],
      ]);
      expect(await balance()).toBe(0n);
    });

    it('crosses again when the change that took the crossing is not committed', async () => {
      // Threshold 50, balance 70 (committed). b2 holds only duplicates: its deduction takes the
      // crossing; b3, real usage, starts below the threshold; Postgres commits nothing for b2.
      await redis.reserveChange(bal, pend, 'b1', '-30', 't1', '100', '50');
      await redis.settleChange(bal, pend, 'b1', 't1', '-30');
      expect((await redis.reserveChange(bal, pend, 'b2', '-30', 't2', '', '50'))[4]).toBe('1');
      expect((await redis.reserveChange(bal, pend, 'b3', '-25', 't3', '', '50'))[4]).toBe('');
      await redis.settleChange(bal, pend, 'b2', '', '0');
      await redis.settleChange(bal, pend, 'b3', 't3', '-25');
      // 70 -> 45 really crossed, and no reload was committed: the next deduction makes it.
      expect(await redis.reserveChange(bal, pend, 'b4', '-1', 't4', '', '50')).toEqual([
        'created',
        't4#2',
        '45',
        '44',
        '2',
      ]);
      await redis.settleChange(bal, pend, 'b4', 't4#2', '-1');
      expect((await redis.reserveChange(bal, pend, 'b5', '-1', 't5', '', '50'))[4]).toBe('');
    });

    it('crosses again when a late redelivery took the crossing and was undone', async () => {
      await redis.reserveChange(bal, pend, 'b0', '-30', 't0', '100', '50');
      await redis.settleChange(bal, pend, 'b0', 't0', '-30');
      // b0 delivered again after its settle (70 -> 40), while new usage b1 goes 40 -> 15.
      expect((await redis.reserveChange(bal, pend, 'b0', '-30', 't0b', '', '50'))[4]).toBe('1');
      expect((await redis.reserveChange(bal, pend, 'b1', '-25', 't1', '', '50'))[4]).toBe('');
      await redis.settleChange(bal, pend, 'b0', 't0', '-30');
      await redis.settleChange(bal, pend, 'b1', 't1', '-25');
      // 70 -> 45 crossed, and only b0's first attempt committed: the next deduction makes the crossing.
      expect(await balance()).toBe(45n);
      expect((await redis.reserveChange(bal, pend, 'b2', '-1', 't2', '', '50'))[4]).toBe('2');
    });

    it('stays disarmed when the change that crossed is the one Postgres committed', async () => {
      await redis.reserveChange(bal, pend, 'b1', '-60', 't1', '100', '50');
      await redis.settleChange(bal, pend, 'b1', 't1#1', '-60');
      expect((await redis.reserveChange(bal, pend, 'b2', '-1', 't2', '', '50'))[4]).toBe('');
      // A late redelivery of b1 that crosses nothing leaves the crossing b1 made alone.
      await redis.reserveChange(bal, pend, 'b1', '-1', 't1b', '', '50');
      await redis.settleChange(bal, pend, 'b1', 't1#1', '-60');
      expect((await redis.reserveChange(bal, pend, 'b3', '-1', 't3', '', '50'))[4]).toBe('');
    });

    it('never crosses on a change that deducts nothing', async () => {
      await redis.reserveChange(bal, pend, 'b1', '-10', 't1', '100', '50');
      await redis.settleChange(bal, pend, 'b1', 't1', '-10');
      await redis.hset(bal, 'bal', '40');
      expect((await redis.reserveChange(bal, pend, 'free', '0', 't2', '', '50'))[4]).toBe('');
    });

    it('treats state written before the armed flag like the older script did', async () => {
      // Below the threshold without the flag: its crossing was counted before; no burst after a deploy.
      await redis.hset(bal, 'bal', '40', 'gen', '3', 'reloads', '3');
      expect((await redis.reserveChange(bal, pend, 'b1', '-1', 't1', '', '50'))[4]).toBe('');
      // At or above it, the next deduction below crosses as it always did.
      const above = keys.balance(randomUUID());
      await redis.hset(above, 'bal', '100', 'gen', '3', 'reloads', '3');
      expect((await redis.reserveChange(above, pend, 'b2', '-60', 't2', '', '50'))[4]).toBe('4');
    });

    it('is disarmed by a crossing another script numbered since it was armed', async () => {
      await redis.reserveChange(bal, pend, 'b1', '-10', 't1', '100', '50');
      await redis.settleChange(bal, pend, 'b1', 't1', '-10');
      expect(await redis.hget(bal, 'rl')).toBe('on:0');
      // An older worker during a deploy crosses 90 -> 40 without touching the flag.
      await redis.hincrby(bal, 'reloads', 1);
      await redis.hincrby(bal, 'bal', -50);
      expect((await redis.reserveChange(bal, pend, 'b2', '-1', 't2', '', '50'))[4]).toBe('');
    });

    describe('retry after a failed reload (retry-auto-reload.lua)', () => {
      /** Threshold 50; b1 takes 100 -> 40 and crossing 1, committed (its reload then fails). */
      async function crossedOnce(): Promise<void> {
        await redis.reserveChange(bal, pend, 'b1', '-60', 't1', '100', '50');
        await redis.settleChange(bal, pend, 'b1', 't1#1', '-60');
      }

      it('makes one new crossing below the threshold however often it is asked', async () => {
        await crossedOnce();
        expect(await redis.retryAutoReload(bal, pend, 'retry:1', 'r1', '50', '1', '', '')).toEqual([
          'created',
          'r1#2',
          '40',
          '2',
        ]);
        expect(await redis.retryAutoReload(bal, pend, 'retry:1', 'r2', '50', '1', '', '')).toEqual([
          'exists',
          'r1#2',
          '40',
          '',
        ]);
        expect(await redis.settleChange(bal, pend, 'retry:1', 'r1#2', '0')).toEqual([1, '40']);
        // Asked again after it settled, or by usage: crossing 2 has its reload.
        expect((await redis.retryAutoReload(bal, pend, 'retry:1', 'r3', '50', '1', '', ''))[0]).toBe('none');
        expect((await redis.reserveChange(bal, pend, 'b2', '-1', 't2', '', '50'))[4]).toBe('');
        expect(await redis.hget(bal, 'reloads')).toBe('2');
      });

      it('makes none when usage crossed since the failed crossing', async () => {
        await crossedOnce();
        await redis.reserveChange(bal, pend, 'credit', '0', 'c1', '', '50');
        await redis.settleChange(bal, pend, 'credit', 'c1', '30');
        expect((await redis.reserveChange(bal, pend, 'b2', '-30', 't2', '', '50'))[4]).toBe('2');
        expect((await redis.retryAutoReload(bal, pend, 'retry:1', 'r1', '50', '1', '', ''))[0]).toBe('none');
      });

      it('makes none at or above the threshold', async () => {
        await redis.reserveChange(bal, pend, 'b1', '-50', 't1', '100', '50');
        expect((await redis.retryAutoReload(bal, pend, 'retry:0', 'r1', '50', '0', '', ''))[0]).toBe('none');
      });

      it('after a reload that succeeded, crosses only if armed', async () => {
        await crossedOnce();
        expect((await redis.retryAutoReload(bal, pend, 'retry:1', 'r1', '50', '', '', ''))[0]).toBe('none');
        // b2 took crossing 2 but was not committed: armed again, so a retry may make it now.
        await redis.reserveChange(bal, pend, 'credit', '0', 'c1', '', '50');
        await redis.settleChange(bal, pend, 'credit', 'c1', '15');
        await redis.reserveChange(bal, pend, 'b2', '-10', 't2', '', '50');
        await redis.reserveChange(bal, pend, 'b3', '-10', 't3', '', '50');
        await redis.settleChange(bal, pend, 'b2', '', '0');
        await redis.settleChange(bal, pend, 'b3', 't3', '-10');
        expect(await redis.retryAutoReload(bal, pend, 'retry:1', 'r2', '50', '', '', '')).toEqual([
          'created',
          'r2#3',
          '45',
          '3',
        ]);
      });

      it('arms auto-reload again when Postgres did not record it', async () => {
        await crossedOnce();
        await redis.retryAutoReload(bal, pend, 'retry:1', 'r1', '50', '1', '', '');
        await redis.settleChange(bal, pend, 'retry:1', '', '0');
        expect((await redis.reserveChange(bal, pend, 'b2', '-1', 't2', '', '50'))[4]).toBe('3');
      });

      it('seeds a missing balance and its crossing count from Postgres', async () => {
        expect(await redis.retryAutoReload(bal, pend, 'retry:4', 'r1', '50', '4', '', '')).toEqual([
          'missing',
          '',
          '0',
          '',
        ]);
        expect(await redis.retryAutoReload(bal, pend, 'retry:4', 'r1', '50', '4', '40', '4')).toEqual([
          'created',
          'r1#5',
          '40',
          '5',
        ]);
      });
    });

    it('compares negative balances and thresholds exactly', async () => {
      const cases: [string, string, string, string][] = [
        // seed, delta, threshold, expected crossing
        ['0', '-1', '0', '1'],
        ['-5', '-1', '-5', '1'],
        ['-4', '-2', '-5', '1'],
        ['-6', '-1', '-5', ''],
        ['10', '-20', '-5', '1'],
        ['100', '-1', '99', ''],
        ['9007199254740993', '-1', '9007199254740993', '1'],
        ['9007199254740993', '-1', '9007199254740992', ''],
      ];
      for (const [seed, delta, threshold, expected] of cases) {
        const id = randomUUID();
        const reply = await redis.reserveChange(
          keys.balance(id),
          keys.pending(id),
          'batch-1',
          delta,
          't1',
          seed,
          threshold,
        );
        expect({ seed, delta, threshold, crossing: reply[4] }).toEqual({
          seed,
          delta,
          threshold,
          crossing: expected,
        });
      }
    });
  });

  it('keeps every key of an account in one cluster slot', () => {
    const tag = /\{([^}]+)\}/;
    expect(tag.exec(bal)?.[1]).toBe(account);
    expect(tag.exec(pend)?.[1]).toBe(account);
    // Event markers are grouped by the account's first hex digit instead (see RedisKeys).
    expect(tag.exec(keys.acceptedEvent(account, 'evt'))?.[1]).toBe(account.charAt(0));
  });
});

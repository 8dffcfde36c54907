import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis, { Result } from 'ioredis';

type AdmitReply = [
  allowed: 0 | 1,
  refusedBy: '' | 'per_minute' | 'per_day',
  retryAfterMs: number,
  minuteCount: number,
  dayCount: number,
];

declare module 'ioredis' {
  interface RedisCommander<Context> {
    admitFreeModelRequest(
      minuteKey: string,
      dayKey: string,
      nowMs: string,
      perMinute: string,
      perDay: string,
      member: string,
      dayKeyTtlSeconds: string,
      msToDayEnd: string,
    ): Result<AdmitReply, Context>;
  }
}

export interface FreeModelLimits {
  perMinute: number;
  perDay: number;
}

export type FreeModelAdmission =
  { allowed: true } | { allowed: false; limit: 'per_minute' | 'per_day'; retryAfterSeconds: number };

const DAY_MS = 86_400_000;
// Yesterday's counter outlives its day, so a server whose clock lags a little still finds it
// instead of starting a fresh count, and support can still read it the next day.
const DAY_KEY_GRACE_SECONDS = 25 * 3600;

let source: string | undefined;

/** Free-model requests per account: a sliding per-minute window and a UTC calendar-day quota. */
export class FreeModelLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
  ) {
    // Once per client. Not `in`: the augmentation types the command as present on every client.
    if (!Object.hasOwn(redis, 'admitFreeModelRequest')) {
      source ??= readFileSync(join(__dirname, 'free-model-limits.lua'), 'utf8');
      redis.defineCommand('admitFreeModelRequest', { numberOfKeys: 2, lua: source });
    }
  }

  /** Admits and counts one request, or refuses it without counting it. */
  async admit(accountId: string, limits: FreeModelLimits, nowMs = Date.now()): Promise<FreeModelAdmission> {
    // Lua numbers are doubles: anything but safe integers would not compare exactly.
    if (!Number.isSafeInteger(nowMs)) throw new RangeError(`nowMs must be an integer, got ${nowMs}`);
    for (const [name, value] of [
      ['perMinute', limits.perMinute],
      ['perDay', limits.perDay],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`${name} limit must be a positive integer, got ${value}`);
      }
    }
    const dayStart = nowMs - (((nowMs % DAY_MS) + DAY_MS) % DAY_MS);
    const msToDayEnd = dayStart + DAY_MS - nowMs;
    const day = new Date(dayStart).toISOString().slice(0, 10);
    // Both keys carry the hash tag {<account id>}, so the script touches one cluster slot.
    const account = `${this.keyPrefix}:acct:{${accountId}}`;

    const [allowed, refusedBy, retryAfterMs] = await this.redis.admitFreeModelRequest(
      `${account}:rl:min`,
      `${account}:rl:day:${day}`,
      String(nowMs),
      String(limits.perMinute),
      String(limits.perDay),
      `${nowMs}-${randomBytes(8).toString('hex')}`,
      String(Math.ceil(msToDayEnd / 1000) + DAY_KEY_GRACE_SECONDS),
      String(msToDayEnd),
    );
    if (allowed === 1) return { allowed: true };
    return {
      allowed: false,
      limit: refusedBy === 'per_day' ? 'per_day' : 'per_minute',
      retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
    };
  }
}

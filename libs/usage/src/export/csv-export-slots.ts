import { APP_CONFIG, BaseEnv } from '@app/config';
import { ApiError } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';

/**
 * How many CSV downloads a process streams at once. Each holds a Postgres connection for as long
 * as its client reads, so at most half the pool goes to exports and the rest of the API keeps
 * working however many downloads are asked for.
 */
@Injectable()
export class CsvExportSlots {
  readonly limit: number;
  private inUse = 0;

  constructor(@Inject(APP_CONFIG) config: BaseEnv) {
    this.limit = Math.max(1, Math.floor(config.DATABASE_POOL_SIZE / 2));
  }

  /** Takes a slot, or answers 503 exports_busy (Retry-After) when all are taken; call the result once done. */
  take(): () => void {
    if (this.inUse >= this.limit) {
      throw new ApiError(
        503,
        'exports_busy',
        'too many exports are running; try again in a few seconds',
        {},
        { 'retry-after': '5' },
      );
    }
    this.inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
    };
  }
}

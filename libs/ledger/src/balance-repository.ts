import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';

/** Postgres side of balances: the system of record (I3). */
@Injectable()
export class BalanceRepository {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  /** Balances in micros of the given accounts; accounts without a balance row are absent. */
  async balancesOf(accountIds: readonly string[]): Promise<Map<string, bigint>> {
    if (accountIds.length === 0) return new Map();
    const rows = await this.database.sql<{ account_id: string; balance_micros: bigint }[]>`
      select account_id, sum(balance_micros)::bigint as balance_micros from account_balances
      where account_id = any(${accountIds as string[]}::uuid[]) group by account_id`;
    return new Map(rows.map((row) => [row.account_id, row.balance_micros]));
  }

  /**
   * What a balance missing from Redis is rebuilt from: the balance, and the last auto-reload
   * crossing number committed with a ledger row ("<token>#<n>"), so numbering continues after
   * Redis lost its data instead of reusing numbers whose reloads already ran.
   */
  async seedsOf(accountIds: readonly string[]): Promise<Map<string, BalanceSeed>> {
    const balances = await this.balancesOf(accountIds);
    if (balances.size === 0) return new Map();
    // `redis_token like '%#%'` is the predicate of ledger_entries_reload_crossings_idx: only the
    // crossing rows are read, not the usage row of every batch the account was in.
    const rows = await this.database.sql<{ account_id: string; reloads: string }[]>`
      select account_id, max(split_part(redis_token, '#', 2)::bigint)::text as reloads from ledger_entries
      where account_id = any(${[...balances.keys()]}::uuid[]) and redis_token like '%#%' group by account_id`;
    const reloads = new Map(rows.map((row) => [row.account_id, row.reloads]));
    return new Map(
      [...balances].map(([accountId, balance]) => [
        accountId,
        { balance, reloads: reloads.get(accountId) ?? '0' },
      ]),
    );
  }
}

export interface BalanceSeed {
  balance: bigint;
  /** Auto-reload crossings numbered so far (decimal string). */
  reloads: string;
}

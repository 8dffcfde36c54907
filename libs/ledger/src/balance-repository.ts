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
}

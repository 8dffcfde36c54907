import { AuditActor, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { BalanceStore } from './balance-store';

export interface GrantRequest {
  accountId: string;
  amountMicros: bigint;
  reason: string;
  /** The caller's Idempotency-Key; the same key never grants twice. */
  requestKey: string;
  /**
   * grant: promotional or goodwill credits. purchase: credits paid for outside the card flow
   * (wire, invoice); they count as bought credits (free-model daily limits rise at $10).
   */
  kind: 'grant' | 'purchase';
  actor: AuditActor;
}

export interface GrantResult {
  balanceMicros: bigint;
  replayed: boolean;
}

export class AccountNotFoundError extends Error {
  constructor(readonly accountId: string) {
    super(`account ${accountId} does not exist`);
  }
}

export class IdempotencyKeyReusedError extends Error {
  constructor() {
    super('this Idempotency-Key was already used with a different amount or reason');
  }
}

export function grantLedgerKey(accountId: string, requestKey: string): string {
  return `grant:${accountId}:${requestKey}`;
}

/**
 * Admin credit grants and recorded offline purchases, each with its audit row. Postgres commits the ledger row and the balance together; Redis shows the
 * credit only after that commit (reserve with delta 0, then settle), so a failed grant never
 * shows up and a replayed one never counts twice.
 */
@Injectable()
export class GrantCreditsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly balanceStore: BalanceStore,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  async grant(request: GrantRequest): Promise<GrantResult> {
    const { sql } = this.database;
    const [account] = await sql`select 1 from accounts where id = ${request.accountId}`;
    if (!account) throw new AccountNotFoundError(request.accountId);

    const changeKey = grantLedgerKey(request.accountId, request.requestKey);
    const [reserved] = await this.balanceStore.reserve([
      { accountId: request.accountId, changeKey, appliedDelta: 0n, token: randomUUID() },
    ]);

    const committed = await sql.begin(async (tx) => {
      const inserted = await tx<{ id: number }[]>`
        insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token, source)
        values (${request.accountId}, ${request.kind}, ${request.amountMicros}, ${changeKey}, ${reserved.token},
                ${tx.json({ reason: request.reason, request_key: request.requestKey })})
        on conflict (idempotency_key) do nothing
        returning id`;
      if (inserted.length === 1) {
        // Credits go to shard 0; the account's balance is the sum of its shards.
        await tx`
          update account_balances set balance_micros = balance_micros + ${request.amountMicros}, updated_at = now()
          where account_id = ${request.accountId} and shard = 0`;
        const [{ balance_micros }] = await tx<{ balance_micros: bigint }[]>`
          select sum(balance_micros)::bigint as balance_micros from account_balances where account_id = ${request.accountId}`;
        await tx`update ledger_entries set balance_after_micros = ${balance_micros} where id = ${inserted[0].id}`;
        if (request.kind === 'purchase') {
          await tx`
            update accounts set purchased_micros = purchased_micros + ${request.amountMicros}, updated_at = now()
            where id = ${request.accountId}`;
        }
        await this.audit.record(tx, {
          accountId: request.accountId,
          actor: request.actor,
          action: request.kind === 'purchase' ? 'credits.purchased' : 'credits.granted',
          targetType: 'ledger_entry',
          targetId: String(inserted[0].id),
          before: { balance_micros: balance_micros - request.amountMicros },
          after: { balance_micros, amount_micros: request.amountMicros, reason: request.reason },
        });
        return {
          kind: request.kind,
          amount: request.amountMicros,
          token: reserved.token,
          balance: balance_micros,
          reason: request.reason,
          replayed: false,
        };
      }
      const [existing] = await tx<
        {
          amount_micros: bigint;
          redis_token: string;
          balance_after_micros: bigint;
          source: { reason?: string };
          account_id: string;
          kind: string;
        }[]
      >`select amount_micros, redis_token, balance_after_micros, source, account_id, kind from ledger_entries where idempotency_key = ${changeKey}`;
      return {
        kind: existing.kind,
        amount: existing.amount_micros,
        token: existing.redis_token,
        balance: existing.balance_after_micros,
        reason: existing.source.reason,
        replayed: true,
      };
    });

    await this.balanceStore.settle([
      {
        accountId: request.accountId,
        changeKey,
        committedToken: committed.token,
        committedDelta: committed.amount,
      },
    ]);
    // Bought credits raise limits cached in every process.
    if (!committed.replayed && request.kind === 'purchase') await this.catalog.announce();
    if (
      committed.replayed &&
      (committed.amount !== request.amountMicros ||
        committed.reason !== request.reason ||
        committed.kind !== request.kind)
    ) {
      throw new IdempotencyKeyReusedError();
    }
    return { balanceMicros: committed.balance, replayed: committed.replayed };
  }
}

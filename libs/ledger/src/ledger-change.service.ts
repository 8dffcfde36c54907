import { DATABASE, DatabaseHandle, LedgerEntryKind, Tx } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { BalanceOutOfRangeError, isNumericOutOfRange, MAX_BALANCE_MICROS } from './balance-limit';
import { BalanceStore } from './balance-store';
import { newChangeToken } from './change-token';

export interface LedgerChange {
  accountId: string;
  kind: Exclude<LedgerEntryKind, 'usage'>;
  /** Signed micros: credits positive, refunds and adjustments down negative. */
  amountMicros: bigint;
  /** Names the cause; unique across the ledger, so the same cause never applies twice (I4). */
  ledgerKey: string;
  source: Record<string, unknown>;
  /**
   * Runs in the change's transaction only when it applies for the first time, after the balance
   * moved: the rest of the cause (purchase status, audit row, ...) commits with it or not at all.
   */
  alsoInTransaction?: (tx: Tx, balanceAfterMicros: bigint) => Promise<void>;
}

export interface AppliedChange {
  /** Balance right after this change, as recorded with it. */
  balanceMicros: bigint;
  /** True when the change was already in the ledger (a replay); nothing moved this time. */
  replayed: boolean;
  amountMicros: bigint;
  kind: LedgerEntryKind;
  source: Record<string, unknown>;
}

/**
 * Applies one non-usage balance change (grant, purchase, refund, adjustment) exactly once.
 * Postgres commits the ledger row with the balance; Redis shows the change only after that
 * commit (reserve with delta 0, then settle with the committed amount), so a failed change never
 * shows up and a replayed one never counts twice.
 */
@Injectable()
export class LedgerChangeService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly balanceStore: BalanceStore,
  ) {}

  async apply(change: LedgerChange): Promise<AppliedChange> {
    // The key names the change's pending entry in Redis, whose side fields are "<key>|x" and
    // "<key>|k": one holding "|" could be taken for another change's side field by settle and the
    // reconciler. Keys are ours but for a grant's Idempotency-Key, which its route refuses first.
    if (change.ledgerKey.includes('|')) throw new Error(`ledger key "${change.ledgerKey}" contains "|"`);
    if (isCappedCredit(change)) await this.refuseIfOverMaxBalance(change);
    const [reserved] = await this.balanceStore.reserve([
      { accountId: change.accountId, changeKey: change.ledgerKey, appliedDelta: 0n, token: newChangeToken() },
    ]);
    const committed = await this.commit(change, reserved.token).catch(async (error: unknown) => {
      if (!(error instanceof BalanceOutOfRangeError || isNumericOutOfRange(error))) throw error;
      // Refused inside the transaction, so it rolled back for certain: settle this attempt's
      // pending entry as not committed now rather than leave it to the reconciler for 15 minutes.
      // An entry an earlier attempt holds ("exists") is that attempt's to settle.
      if (reserved.status === 'created') {
        await this.balanceStore.settle([
          {
            accountId: change.accountId,
            changeKey: change.ledgerKey,
            committedToken: '',
            committedDelta: 0n,
          },
        ]);
      }
      throw error instanceof BalanceOutOfRangeError ? error : new BalanceOutOfRangeError(change.accountId);
    });
    await this.balanceStore.settle([
      {
        accountId: change.accountId,
        changeKey: change.ledgerKey,
        committedToken: committed.token,
        committedDelta: committed.applied.amountMicros,
      },
    ]);
    return committed.applied;
  }

  /**
   * Refuses a credit that would take the balance past MAX_BALANCE_MICROS before anything reaches
   * Redis. A change already in the ledger passes: it is a replay, answered with its first result.
   * Concurrent credits can all pass here; the transaction checks again (commit).
   */
  private async refuseIfOverMaxBalance(change: LedgerChange): Promise<void> {
    const [{ balance, recorded }] = await this.database.sql<{ balance: bigint | null; recorded: boolean }[]>`
      select (select sum(balance_micros)::bigint from account_balances where account_id = ${change.accountId}) as balance,
             exists (select 1 from ledger_entries where idempotency_key = ${change.ledgerKey}) as recorded`;
    if (!recorded && (balance ?? 0n) + change.amountMicros > MAX_BALANCE_MICROS) {
      throw new BalanceOutOfRangeError(change.accountId);
    }
  }

  /** The change's Postgres transaction; its ledger row records `token`, the pending entry's. */
  private async commit(
    change: LedgerChange,
    token: string,
  ): Promise<{ token: string; applied: AppliedChange }> {
    return this.database.sql.begin(async (tx) => {
      const inserted = await tx<{ id: number }[]>`
        insert into ledger_entries (account_id, kind, amount_micros, idempotency_key, redis_token, source)
        values (${change.accountId}, ${change.kind}, ${change.amountMicros}, ${change.ledgerKey}, ${token},
                ${tx.json(change.source as never)})
        on conflict (idempotency_key) do nothing
        returning id`;
      if (inserted.length === 1) {
        // Non-usage changes go to shard 0; the account's balance is the sum of its shards.
        await tx`
          update account_balances set balance_micros = balance_micros + ${change.amountMicros}, updated_at = now()
          where account_id = ${change.accountId} and shard = 0`;
        const [{ balance }] = await tx<{ balance: bigint }[]>`
          select sum(balance_micros)::bigint as balance from account_balances where account_id = ${change.accountId}`;
        // Postgres is the authority: a credit committed meanwhile may have passed the check above.
        if (isCappedCredit(change) && balance > MAX_BALANCE_MICROS) {
          throw new BalanceOutOfRangeError(change.accountId);
        }
        await tx`update ledger_entries set balance_after_micros = ${balance} where id = ${inserted[0].id}`;
        await change.alsoInTransaction?.(tx, balance);
        return {
          token,
          applied: {
            balanceMicros: balance,
            replayed: false,
            amountMicros: change.amountMicros,
            kind: change.kind,
            source: change.source,
          },
        };
      }
      const [existing] = await tx<
        {
          amount_micros: bigint;
          redis_token: string;
          balance_after_micros: bigint;
          source: Record<string, unknown>;
          kind: LedgerEntryKind;
        }[]
      >`select amount_micros, redis_token, balance_after_micros, source, kind from ledger_entries where idempotency_key = ${change.ledgerKey}`;
      return {
        token: existing.redis_token,
        applied: {
          balanceMicros: existing.balance_after_micros,
          replayed: true,
          amountMicros: existing.amount_micros,
          kind: existing.kind,
          source: existing.source,
        },
      };
    });
  }
}

/**
 * Only grants are held to MAX_BALANCE_MICROS: an operator's grant can be refused and made again,
 * while a purchase, auto-reload or invoice payment is credited after the customer has paid, where
 * a refusal would keep their money. Those are bounded by what a payment is (PURCHASE_MAX_USD, or a
 * statement's usage debited before), far inside 64 bits even on a balance at the cap.
 */
function isCappedCredit(change: LedgerChange): boolean {
  return change.kind === 'grant' && change.amountMicros > 0n;
}

import { AuditActor, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { Inject, Injectable } from '@nestjs/common';
import { LedgerChangeService } from './ledger-change.service';

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
 * Admin credit grants and recorded offline purchases, each with its audit row, applied once per
 * Idempotency-Key through the ledger protocol (LedgerChangeService).
 */
@Injectable()
export class GrantCreditsService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly ledger: LedgerChangeService,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  async grant(request: GrantRequest): Promise<GrantResult> {
    const [account] = await this.database.sql`select 1 from accounts where id = ${request.accountId}`;
    if (!account) throw new AccountNotFoundError(request.accountId);

    const applied = await this.ledger.apply({
      accountId: request.accountId,
      kind: request.kind,
      amountMicros: request.amountMicros,
      ledgerKey: grantLedgerKey(request.accountId, request.requestKey),
      source: { reason: request.reason, request_key: request.requestKey },
      alsoInTransaction: async (tx, balanceMicros) => {
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
          targetId: grantLedgerKey(request.accountId, request.requestKey),
          before: { balance_micros: balanceMicros - request.amountMicros },
          after: {
            balance_micros: balanceMicros,
            amount_micros: request.amountMicros,
            reason: request.reason,
          },
        });
      },
    });
    // Bought credits raise limits cached in every process.
    if (!applied.replayed && request.kind === 'purchase') await this.catalog.announce();
    if (
      applied.replayed &&
      (applied.amountMicros !== request.amountMicros ||
        applied.source.reason !== request.reason ||
        applied.kind !== request.kind)
    ) {
      throw new IdempotencyKeyReusedError();
    }
    return { balanceMicros: applied.balanceMicros, replayed: applied.replayed };
  }
}

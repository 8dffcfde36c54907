import { AuditActor, AuditLogService, SYSTEM_ACTOR } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { AppliedChange, LedgerChangeService } from '@app/ledger';
import { Inject, Injectable, Logger } from '@nestjs/common';
import Stripe from 'stripe';
import { PURCHASE_COLUMNS, PurchaseRecord } from '../purchase-records';
import { InTransaction, PurchaseSettlementService } from '../purchase-settlement.service';
import { centsToMicros, STRIPE } from '../stripe-client';
import { refundCreditsByRefund, refundCreditsMicros } from './refund-tax';

/** The ledger row that debits one Stripe refund; unique, so admin route and webhook debit it once. */
export function refundLedgerKey(refundId: string): string {
  return `refund:${refundId}`;
}

/** The ledger row that credits back a debited refund that then failed; unique, so once. */
export function refundReversalLedgerKey(refundId: string): string {
  return `refund_reversal:${refundId}`;
}

/** Refund statuses after which the customer never gets the money. */
const UNPAID_REFUND_STATUSES: ReadonlySet<string> = new Set(['failed', 'canceled']);

export interface RefundSync {
  /** Refunds debited by this call. */
  debited: number;
  /** Debited refunds that failed afterwards, credited back by this call. */
  reversed: number;
  /** True when `alsoInTransaction` committed with one of those debits. */
  ranInTransaction: boolean;
  /** Why nothing could be debited (the purchase was never credited), if so. */
  skipped: string | null;
}

/**
 * Debits refunded credits: one ledger row refund:<re_id> (kind refund, negative) per succeeded
 * Stripe refund, committed with credit_purchases.refunded_micros, the account's bought-credits
 * total (accounts.purchased_micros) and the audit row, whoever sees
 * the refund first (the admin route's answer from Stripe or charge.refunded). A refund that fails
 * after it was debited (the card was closed: Stripe keeps the money) is credited back by
 * refund_reversal:<re_id> (kind refund, positive), with refunded_micros lowered and the bought
 * total raised again.
 */
@Injectable()
export class RecordRefundService {
  private readonly logger = new Logger(RecordRefundService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(STRIPE) private readonly stripe: Stripe,
    private readonly ledger: LedgerChangeService,
    private readonly audit: AuditLogService,
    private readonly settlement: PurchaseSettlementService,
    private readonly catalog: CatalogWriter,
  ) {}

  async apply(
    purchase: PurchaseRecord,
    refund: Stripe.Refund,
    actor: AuditActor,
    alsoInTransaction?: InTransaction,
    /** Its credits part as refundCreditsByRefund counts it among the purchase's refunds. */
    creditsMicros = refundCreditsMicros(purchase, refund),
  ): Promise<AppliedChange> {
    const paymentIntentId =
      typeof refund.payment_intent === 'string' ? refund.payment_intent : refund.payment_intent?.id;
    if (
      refund.status !== 'succeeded' ||
      paymentIntentId !== purchase.payment_intent_id ||
      refund.currency !== purchase.currency
    ) {
      throw new Error(
        `refund ${refund.id} (${refund.status}, ${paymentIntentId}) is not a succeeded refund of purchase ${purchase.id}`,
      );
    }
    // Only the credits part is debited; the rest of the refund is the tax returned with it.
    const micros = creditsMicros;
    const taxMicros = centsToMicros(refund.amount) - micros;
    const applied = await this.ledger.apply({
      accountId: purchase.account_id,
      kind: 'refund',
      amountMicros: -micros,
      ledgerKey: refundLedgerKey(refund.id),
      source: { purchase_id: purchase.id, refund: refund.id, payment_intent: paymentIntentId },
      alsoInTransaction: async (tx, balanceMicros) => {
        // The check constraint keeps refunded_micros within the purchase; Stripe never refunds more than the charge.
        const [row] = await tx<{ refunded_micros: bigint }[]>`
          update credit_purchases set refunded_micros = refunded_micros + ${micros}, updated_at = now()
          where id = ${purchase.id}
          returning refunded_micros`;
        // Refunded credits were not bought after all: the free-model daily limit that buying raises
        // (FREE_MODEL_PURCHASE_THRESHOLD_USD) must not outlast the money.
        await tx`
          update accounts set purchased_micros = purchased_micros - ${micros}, updated_at = now()
          where id = ${purchase.account_id}`;
        await this.audit.record(tx, {
          accountId: purchase.account_id,
          actor,
          action: 'credits.refunded',
          targetType: 'purchase',
          targetId: purchase.id,
          before: { balance_micros: balanceMicros + micros, refunded_micros: row.refunded_micros - micros },
          after: {
            balance_micros: balanceMicros,
            refunded_micros: row.refunded_micros,
            amount_micros: micros,
            tax_micros: taxMicros,
            refund: refund.id,
            reason: refund.metadata?.reason ?? refund.reason ?? null,
          },
        });
        await alsoInTransaction?.(tx);
      },
    });
    // Bought credits are cached in every process (free-model limits).
    if (!applied.replayed) await this.catalog.announce();
    return applied;
  }

  /**
   * Debits every succeeded refund of the purchase's PaymentIntent that the ledger does not have
   * yet, wherever it was made (our route, the Stripe dashboard). `alsoInTransaction` joins the
   * last new debit. A purchase whose success we have not seen yet is credited first, so the
   * debit never precedes its credit.
   */
  async syncPurchase(
    purchase: PurchaseRecord,
    intent: Stripe.PaymentIntent,
    alsoInTransaction?: InTransaction,
  ): Promise<RefundSync> {
    let current = purchase;
    if (current.status !== 'succeeded') {
      if (intent.status !== 'succeeded')
        return {
          debited: 0,
          reversed: 0,
          ranInTransaction: false,
          skipped: `${intent.id} is ${intent.status}`,
        };
      current = (await this.settlement.succeeded(current, intent, SYSTEM_ACTOR)).purchase;
      if (current.status !== 'succeeded')
        return {
          debited: 0,
          reversed: 0,
          ranInTransaction: false,
          skipped: `purchase ${purchase.id} was never credited`,
        };
    }
    const all = (
      await this.stripe.refunds
        .list({ payment_intent: intent.id, limit: 100 })
        .autoPagingToArray({ limit: 10_000 })
    ).sort((a, b) => a.created - b.created);
    const keys = all.flatMap((refund) => [refundLedgerKey(refund.id), refundReversalLedgerKey(refund.id)]);
    const known = new Map(
      (
        await this.database.sql<{ idempotency_key: string; amount_micros: bigint }[]>`
          select idempotency_key, amount_micros from ledger_entries where idempotency_key = any(${keys}::text[])`
      ).map((row) => [row.idempotency_key, row.amount_micros]),
    );
    const missing = all.filter(
      (refund) => refund.status === 'succeeded' && !known.has(refundLedgerKey(refund.id)),
    );
    let debited = 0;
    let reversed = 0;
    let ranInTransaction = false;
    for (const refund of all) {
      if (!UNPAID_REFUND_STATUSES.has(refund.status ?? '') || known.has(refundReversalLedgerKey(refund.id)))
        continue;
      const debit = known.get(refundLedgerKey(refund.id)) ?? (await this.claimUnpaid(current, refund));
      if (debit !== 0n && !(await this.reverse(current, refund, -debit)).replayed) reversed++;
    }
    const credits = refundCreditsByRefund(current, all);
    for (const [index, refund] of missing.entries()) {
      const last = index === missing.length - 1;
      const applied = await this.apply(
        current,
        refund,
        SYSTEM_ACTOR,
        last && alsoInTransaction
          ? async (tx) => {
              await alsoInTransaction(tx);
              ranInTransaction = true;
            }
          : undefined,
        credits.get(refund.id),
      );
      if (!applied.replayed) debited++;
    }
    if (debited > 0) this.logger.log(`purchase ${current.id}: debited ${debited} refund(s) found in Stripe`);
    if (reversed > 0) this.logger.warn(`purchase ${current.id}: credited back ${reversed} failed refund(s)`);
    return { debited, reversed, ranInTransaction, skipped: null };
  }

  /**
   * A failed or canceled refund with no debit yet gets a debit row of 0 under its key, so a
   * concurrent sync that read it as succeeded finds the key taken and debits nothing. Returns the
   * row's amount: 0, or the debit such a sync committed first (then credited back by the caller).
   */
  private async claimUnpaid(purchase: PurchaseRecord, refund: Stripe.Refund): Promise<bigint> {
    const claimed = await this.ledger.apply({
      accountId: purchase.account_id,
      kind: 'refund',
      amountMicros: 0n,
      ledgerKey: refundLedgerKey(refund.id),
      source: { purchase_id: purchase.id, refund: refund.id, never_paid: refund.status },
    });
    return claimed.amountMicros;
  }

  /** Credits back the `micros` a refund debited, once it failed: the customer never got the money. */
  private async reverse(
    purchase: PurchaseRecord,
    refund: Stripe.Refund,
    micros: bigint,
  ): Promise<AppliedChange> {
    const applied = await this.ledger.apply({
      accountId: purchase.account_id,
      kind: 'refund',
      amountMicros: micros,
      ledgerKey: refundReversalLedgerKey(refund.id),
      source: {
        purchase_id: purchase.id,
        refund: refund.id,
        refund_status: refund.status,
        failure_reason: refund.failure_reason ?? null,
      },
      alsoInTransaction: async (tx, balanceMicros) => {
        const [row] = await tx<{ refunded_micros: bigint }[]>`
          update credit_purchases set refunded_micros = refunded_micros - ${micros}, updated_at = now()
          where id = ${purchase.id}
          returning refunded_micros`;
        // The money stayed with us: the credits count as bought again.
        await tx`
          update accounts set purchased_micros = purchased_micros + ${micros}, updated_at = now()
          where id = ${purchase.account_id}`;
        await this.audit.record(tx, {
          accountId: purchase.account_id,
          actor: SYSTEM_ACTOR,
          action: 'credits.refund_reversed',
          targetType: 'purchase',
          targetId: purchase.id,
          before: { balance_micros: balanceMicros - micros, refunded_micros: row.refunded_micros + micros },
          after: {
            balance_micros: balanceMicros,
            refunded_micros: row.refunded_micros,
            amount_micros: micros,
            refund: refund.id,
            failure_reason: refund.failure_reason ?? null,
          },
        });
      },
    });
    if (!applied.replayed) await this.catalog.announce();
    return applied;
  }

  /**
   * Runs `work` while no other refund request of the purchase runs (any api process): what is
   * left, and the tax share of a partial refund, are computed from the refunds made before it.
   * A session lock, not a transaction's: `work` waits on Stripe (20 s a try, three tries), longer
   * than a transaction may sit idle (idle_in_transaction_session_timeout).
   * On a connection of its own, not one reserved from the pool: a Postgres blip during the Stripe
   * call left a released one dead in the pool, failing every later query on it (CONNECTION_CLOSED)
   * until restart. Nor a transaction on a pooled connection: after such a blip its commit can land
   * in another request's transaction on the reopened connection, committing that one half done.
   * Ending the session unlocks; if this process dies, Postgres drops the lock with the connection.
   * A blip drops it too while `work` still runs: a retry of this request then finds its refund by
   * its refund_request tag (and Stripe's idempotency key), so it is never made twice.
   */
  async oneRefundAtATime<T>(purchaseId: string, work: () => Promise<T>): Promise<T> {
    return this.database.withOwnConnection(async (connection) => {
      await connection`select pg_advisory_lock(hashtextextended(${`refund:${purchaseId}`}, 0))`;
      return work();
    });
  }

  async purchase(purchaseId: string): Promise<PurchaseRecord | null> {
    const [row] = await this.database.sql<PurchaseRecord[]>`
      select ${this.database.sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases where id = ${purchaseId}`;
    return row ?? null;
  }
}

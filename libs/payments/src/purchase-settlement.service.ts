import { AuditActor, AuditLogService, SYSTEM_ACTOR } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { IssuedInvoice, IssuePurchaseInvoiceService } from '@app/invoices';
import { LedgerChangeService } from '@app/ledger';
import { Inject, Injectable, Logger } from '@nestjs/common';
import Stripe from 'stripe';
import { endFailurePause } from './auto-reload/auto-reload-pause';
import {
  PURCHASE_COLUMNS,
  purchaseChargeMicros,
  purchaseLedgerKey,
  PurchaseRecord,
} from './purchase-records';
import { PaidCard, PaidCardService } from './paid-card.service';
import { centsToMicros } from './stripe-client';

export interface SettledPurchase {
  purchase: PurchaseRecord;
  balanceMicros: bigint | null;
  /** True when this call granted the credits; false when they had been granted before (or not at all). */
  credited: boolean;
  /** The invoice issued with the credit by this call; null when it was credited before (or not at all). */
  invoice: IssuedInvoice | null;
}

export interface FailureDetails {
  code: string | null;
  declineCode: string | null;
  message: string | null;
}

/** Runs inside a purchase's credit transaction; e.g. recording the webhook event that caused it. */
export type InTransaction = (tx: Tx) => Promise<void>;

/** Runs inside the credit transaction, after the purchase row was marked succeeded (`settled`). */
export type InSettledTransaction = (tx: Tx, settled: PurchaseRecord) => Promise<void>;

/**
 * Moves a purchase to its final state from what Stripe says of its PaymentIntent. Credits are
 * granted exactly once, by the ledger row purchase:<id>, in the same transaction as the purchase
 * status, the bought-credits total, the Free -> Developer move on a first purchase and the audit
 * row, whether the success is seen in the API answer, the webhook, or both at once.
 */
@Injectable()
export class PurchaseSettlementService {
  private readonly logger = new Logger(PurchaseSettlementService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly ledger: LedgerChangeService,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
    private readonly invoices: IssuePurchaseInvoiceService,
    private readonly paidCards: PaidCardService,
  ) {}

  async byPaymentIntent(intent: Stripe.PaymentIntent): Promise<PurchaseRecord | null> {
    const purchaseId = intent.metadata?.purchase_id;
    const [row] = await this.database.sql<PurchaseRecord[]>`
      select ${this.database.sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases
      where payment_intent_id = ${intent.id} or (${purchaseId ?? null}::uuid is not null and id = ${purchaseId ?? null}::uuid)
      limit 1`;
    return row ?? null;
  }

  async succeeded(
    purchase: PurchaseRecord,
    intent: Stripe.PaymentIntent,
    actor: AuditActor = SYSTEM_ACTOR,
    alsoInTransaction?: InSettledTransaction,
  ): Promise<SettledPurchase> {
    if (intent.status !== 'succeeded')
      throw new Error(`PaymentIntent ${intent.id} is ${intent.status}, not succeeded`);
    const received = centsToMicros(intent.amount_received);
    // The card pays credits + tax; the ledger is credited the credits only.
    if (received !== purchaseChargeMicros(purchase) || intent.currency !== purchase.currency) {
      // Never credit what was not paid; this needs a person.
      this.logger.error(
        `purchase ${purchase.id}: PaymentIntent ${intent.id} received ${intent.amount_received} ${intent.currency}, expected ${purchaseChargeMicros(purchase)} micros`,
      );
      return { purchase, balanceMicros: null, credited: false, invoice: null };
    }
    // Asked before the transaction (it may call Stripe): a credited purchase keeps its card.
    const paidCard =
      purchase.status === 'succeeded' ? null : await this.paidCards.changedCard(purchase, intent);
    let tierChanged = false;
    let invoice: IssuedInvoice | null = null;
    const applied = await this.ledger.apply({
      accountId: purchase.account_id,
      kind: purchase.kind === 'auto_reload' ? 'auto_reload' : 'purchase',
      amountMicros: purchase.amount_micros,
      ledgerKey: purchaseLedgerKey(purchase.id),
      source: { purchase_id: purchase.id, payment_intent: intent.id },
      alsoInTransaction: async (tx, balanceMicros) => {
        const chargeId =
          typeof intent.latest_charge === 'string'
            ? intent.latest_charge
            : (intent.latest_charge?.id ?? null);
        // The card that paid, not the one the purchase was opened with, is the transaction's (F6):
        // the invoice issued below copies it from this row.
        const [settled] = await tx<PurchaseRecord[]>`
          update credit_purchases set status = 'succeeded', succeeded_at = now(), updated_at = now(),
                 payment_intent_id = ${intent.id}, charge_id = ${chargeId},
                 failure_code = null, decline_code = null, failure_message = null
                 ${
                   paidCard
                     ? tx`, payment_method_id = ${paidCard.paymentMethodId}, card_brand = ${paidCard.brand},
                          card_last4 = ${paidCard.last4}`
                     : tx``
                 }
          where id = ${purchase.id}
          returning ${tx.unsafe(PURCHASE_COLUMNS)}`;
        const [account] = await tx<{ tier: string }[]>`
          select tier from accounts where id = ${purchase.account_id} for no key update`;
        // The first successful purchase moves a Free account to Developer; nothing else changes a tier automatically.
        tierChanged = account.tier === 'free';
        await tx`
          update accounts set purchased_micros = purchased_micros + ${purchase.amount_micros},
                 tier = case when tier = 'free' then 'developer'::account_tier else tier end,
                 tier_changed_at = case when tier = 'free' then now() else tier_changed_at end, updated_at = now()
          where id = ${purchase.account_id}`;
        // A successful purchase ends a pause after failed charges (not one for a dispute).
        await endFailurePause(tx, purchase.account_id);
        await this.audit.recordMany(tx, [
          {
            accountId: purchase.account_id,
            actor,
            action: purchase.kind === 'auto_reload' ? 'credits.auto_reloaded' : 'credits.purchased',
            targetType: 'purchase',
            targetId: purchase.id,
            before: { balance_micros: balanceMicros - purchase.amount_micros },
            after: {
              balance_micros: balanceMicros,
              amount_micros: purchase.amount_micros,
              payment_intent: intent.id,
              ...(paidCard
                ? { card: paidCardAudit(paidCard), opened_with_card: purchase.payment_method_id }
                : {}),
            },
          },
          ...(tierChanged
            ? [
                {
                  accountId: purchase.account_id,
                  actor,
                  action: 'account.tier_changed',
                  targetType: 'account',
                  targetId: purchase.account_id,
                  before: { tier: 'free' },
                  after: { tier: 'developer', reason: 'first purchase' },
                },
              ]
            : []),
        ]);
        await alsoInTransaction?.(tx, settled);
        // Last, as it serialises invoice numbering until commit; once, like the ledger row (I4).
        invoice = await this.invoices.issue(tx, purchase.id);
      },
    });
    if (paidCard && !applied.replayed) {
      this.logger.log(
        `purchase ${purchase.id} paid by ${paidCard.paymentMethodId} (${paidCard.brand} ${paidCard.last4}), not by ${purchase.payment_method_id}`,
      );
    }
    // Bought credits and the tier are cached in every process.
    if (!applied.replayed) await this.catalog.announce();
    // Counted and its PDF queued only now that it is committed.
    if (invoice) await this.invoices.afterCommit(invoice);
    const [row] = await this.database.sql<PurchaseRecord[]>`
      select ${this.database.sql.unsafe(PURCHASE_COLUMNS)} from credit_purchases where id = ${purchase.id}`;
    return { purchase: row, balanceMicros: applied.balanceMicros, credited: !applied.replayed, invoice };
  }

  /** Records a failed or abandoned attempt; never touches a purchase that already succeeded. */
  async failed(
    purchase: PurchaseRecord,
    status: 'failed' | 'canceled' | 'requires_action',
    failure: FailureDetails,
    paymentIntentId: string | null,
    alsoInTransaction?: InTransaction,
  ): Promise<PurchaseRecord> {
    return this.database.sql.begin(async (tx) => {
      const [row] = await tx<PurchaseRecord[]>`
        update credit_purchases set status = ${status}, failure_code = ${failure.code}, decline_code = ${failure.declineCode},
               failure_message = ${failure.message}, payment_intent_id = coalesce(payment_intent_id, ${paymentIntentId}),
               updated_at = now()
        where id = ${purchase.id} and status <> 'succeeded'
        returning ${tx.unsafe(PURCHASE_COLUMNS)}`;
      await alsoInTransaction?.(tx);
      if (row) return row;
      const [current] = await tx<PurchaseRecord[]>`
        select ${tx.unsafe(PURCHASE_COLUMNS)} from credit_purchases where id = ${purchase.id}`;
      return current;
    });
  }
}

function paidCardAudit(card: PaidCard) {
  return { id: card.paymentMethodId, brand: card.brand, last4: card.last4 };
}

import { AuditLogService, SYSTEM_ACTOR } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { BillingMetrics } from '@app/metrics';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import Stripe from 'stripe';
import {
  AUTO_RELOAD_AUDIT,
  AUTO_RELOAD_OBSERVERS,
  AutoReloadObserver,
} from '../auto-reload/auto-reload-outcome';
import { pauseForDispute } from '../auto-reload/auto-reload-pause';
import { STRIPE } from '../stripe-client';
import {
  duplicate,
  eventObjectId,
  EventOutcome,
  handled,
  idOf,
  ignored,
  recordStripeEvent,
} from './stripe-event-log';
import { StripeOwnersService } from './stripe-owners.service';

/**
 * charge.dispute.created: a card holder's bank is taking the money back. The account is flagged
 * (accounts.disputed_at) for ops to review, with an audit row, an error log line and
 * billing_disputes_total. Credits are left alone: whether to claw them back is a person's call.
 * Auto-reload is paused (paused_reason `dispute`) in the same transaction: charging the card
 * off-session again while its holder disputes us invites more disputes. The owner ends that
 * pause by turning auto-reload on (AutoReloadSettingsService); a dispute closing does not.
 * The observers (AUTO_RELOAD_OBSERVERS) hear of a pause in that transaction too: the owner is
 * emailed if auto-reload was on, since otherwise their reloads stop without a word.
 */
@Injectable()
export class FlagDisputeService {
  private readonly logger = new Logger(FlagDisputeService.name);

  constructor(
    @Inject(STRIPE) private readonly stripe: Stripe,
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly owners: StripeOwnersService,
    private readonly audit: AuditLogService,
    private readonly metrics: BillingMetrics,
    @Optional() @Inject(AUTO_RELOAD_OBSERVERS) private readonly observers: AutoReloadObserver[] = [],
  ) {}

  async handle(event: Stripe.Event): Promise<EventOutcome> {
    const dispute = await this.stripe.disputes.retrieve(eventObjectId(event));
    const charge = await this.stripe.charges.retrieve(idOf(dispute.charge) ?? '');
    const accountId = await this.owners.accountOfCustomer(charge.customer);
    if (!accountId) return ignored(`${dispute.id}: charge ${charge.id} is not of one of our customers`);
    const [purchase] = await this.database.sql<
      { id: string; card_brand: string | null; card_last4: string | null }[]
    >`
      select id, card_brand, card_last4 from credit_purchases where account_id = ${accountId} and payment_intent_id = ${idOf(charge.payment_intent)}`;
    const detail = `account ${accountId} flagged for dispute ${dispute.id}`;
    const recorded = await this.database.sql.begin(async (tx) => {
      // First: a parallel delivery of this event waits here and then finds it done.
      if (!(await recordStripeEvent(tx, event, detail))) return false;
      const [before] = await tx<{ disputed_at: Date | null }[]>`
        select disputed_at from accounts where id = ${accountId} for no key update`;
      const [after] = await tx<{ disputed_at: Date }[]>`
        update accounts set disputed_at = coalesce(disputed_at, now()) where id = ${accountId}
        returning disputed_at`;
      await this.audit.record(tx, {
        accountId,
        actor: SYSTEM_ACTOR,
        action: 'account.disputed',
        targetType: 'account',
        targetId: accountId,
        before: { disputed_at: before.disputed_at },
        after: {
          disputed_at: after.disputed_at,
          dispute: dispute.id,
          charge: charge.id,
          purchase_id: purchase?.id ?? null,
          amount_cents: dispute.amount,
          currency: dispute.currency,
          reason: dispute.reason,
        },
      });
      const pause = await pauseForDispute(tx, accountId);
      if (pause) {
        await this.audit.record(tx, {
          accountId,
          actor: SYSTEM_ACTOR,
          action: AUTO_RELOAD_AUDIT.paused,
          targetType: 'account',
          targetId: accountId,
          before: pause.before,
          after: { ...pause.after, dispute: dispute.id, charge: charge.id },
        });
        const card = charge.payment_method_details?.card;
        for (const observer of this.observers) {
          await observer.onDisputePause(tx, {
            accountId,
            disputeId: dispute.id,
            purchaseId: purchase?.id ?? null,
            amount: dispute.amount,
            currency: dispute.currency,
            card: {
              brand: purchase?.card_brand ?? card?.brand ?? null,
              last4: purchase?.card_last4 ?? card?.last4 ?? null,
            },
          });
        }
      }
      return { autoReloadPaused: pause !== null };
    });
    if (!recorded) return duplicate(`dispute ${dispute.id} already flagged`);
    this.metrics.disputes.inc();
    this.logger.error(
      `DISPUTE ${dispute.id} on charge ${charge.id} (${dispute.amount} ${dispute.currency}, ${dispute.reason}): account ${accountId} flagged for review${recorded.autoReloadPaused ? ', auto-reload paused' : ''}; respond by ${new Date((dispute.evidence_details?.due_by ?? 0) * 1000).toISOString()}`,
    );
    return handled(detail, true);
  }
}

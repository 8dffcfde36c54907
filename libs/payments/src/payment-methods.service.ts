import { AuditActor, AuditLogService } from '@app/audit';
import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { ApiError } from '@app/http';
import { Inject, Injectable, Logger } from '@nestjs/common';
import Stripe from 'stripe';
import { endFailurePause } from './auto-reload/auto-reload-pause';
import { RetryAutoReloadService } from './auto-reload/retry-auto-reload.service';
import { STRIPE } from './stripe-client';
import { StripeCustomersService } from './stripe-customers.service';

export interface PaymentMethodRecord {
  id: string;
  account_id: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  is_default: boolean;
  created_at: Date;
}

const COLUMNS = 'id, account_id, brand, last4, exp_month, exp_year, is_default, created_at';

/**
 * Saved cards. Adding one goes through a SetupIntent confirmed by Stripe.js on the client (card
 * numbers never reach us); we record the resulting PaymentMethod once Stripe says it succeeded,
 * from the client's call or from the setup_intent.succeeded webhook, whichever comes first.
 */
@Injectable()
export class PaymentMethodsService {
  private readonly logger = new Logger(PaymentMethodsService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(STRIPE) private readonly stripe: Stripe,
    private readonly customers: StripeCustomersService,
    private readonly audit: AuditLogService,
    private readonly reloadRetries: RetryAutoReloadService,
  ) {}

  /** A SetupIntent for off-session use; the client confirms it with Stripe.js. */
  async startSetup(accountId: string): Promise<{ setupIntentId: string; clientSecret: string }> {
    const customer = await this.customers.customerOf(accountId);
    const intent = await this.stripe.setupIntents.create({
      customer,
      usage: 'off_session',
      metadata: { account_id: accountId },
    });
    return { setupIntentId: intent.id, clientSecret: intent.client_secret ?? '' };
  }

  /** Records the card of a succeeded SetupIntent of this account; recording it again changes nothing. */
  async completeSetup(
    accountId: string,
    setupIntentId: string,
    actor: AuditActor,
  ): Promise<PaymentMethodRecord> {
    const customer = await this.customers.customerOf(accountId);
    const intent = await this.stripe.setupIntents.retrieve(setupIntentId).catch((error: unknown) => {
      if (error instanceof Stripe.errors.StripeInvalidRequestError) {
        throw new ApiError(404, 'setup_intent_not_found', 'no such SetupIntent');
      }
      throw error;
    });
    const customerId = typeof intent.customer === 'string' ? intent.customer : intent.customer?.id;
    if (customerId !== customer) throw new ApiError(404, 'setup_intent_not_found', 'no such SetupIntent');
    if (intent.status !== 'succeeded' || !intent.payment_method) {
      throw new ApiError(409, 'setup_incomplete', `the SetupIntent is ${intent.status}; confirm it first`);
    }
    const paymentMethodId =
      typeof intent.payment_method === 'string' ? intent.payment_method : intent.payment_method.id;
    return this.record(accountId, await this.stripe.paymentMethods.retrieve(paymentMethodId), actor);
  }

  /** Saves a card Stripe attached to this account's customer; the first card becomes the default. */
  async record(
    accountId: string,
    method: Stripe.PaymentMethod,
    actor: AuditActor,
  ): Promise<PaymentMethodRecord> {
    if (!method.card) throw new ApiError(422, 'unsupported_payment_method', 'only cards are supported');
    const card = method.card;
    const saved = await this.database.sql.begin(async (tx) => {
      await this.lockAccount(tx, accountId);
      const [existing] = await tx<
        PaymentMethodRecord[]
      >`select ${tx.unsafe(COLUMNS)} from payment_methods where id = ${method.id}`;
      if (existing) return existing;
      const [{ has_default }] = await tx<{ has_default: boolean }[]>`
        select exists (select 1 from payment_methods where account_id = ${accountId} and is_default and detached_at is null) as has_default`;
      const [row] = await tx<PaymentMethodRecord[]>`
        insert into payment_methods (id, account_id, brand, last4, exp_month, exp_year, is_default)
        values (${method.id}, ${accountId}, ${card.brand}, ${card.last4}, ${card.exp_month}, ${card.exp_year}, ${!has_default})
        returning ${tx.unsafe(COLUMNS)}`;
      if (row.is_default) await this.cardChanged(tx, accountId);
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'payment_method.added',
        targetType: 'payment_method',
        targetId: row.id,
        before: null,
        after: cardView(row),
      });
      return row;
    });
    // A first card may be what a failed or skipped auto-reload was waiting for.
    if (saved.is_default) await this.reloadRetries.afterFix(accountId);
    return saved;
  }

  list(accountId: string): Promise<PaymentMethodRecord[]> {
    return this.database.sql<PaymentMethodRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from payment_methods
      where account_id = ${accountId} and detached_at is null order by is_default desc, created_at desc`;
  }

  /**
   * The card auto-reload charges, if any. In `tx` after it locked the account row, it is the
   * default until that transaction ends: card changes wait for the lock (lockAccount).
   */
  async defaultOf(
    accountId: string,
    tx: Tx | DatabaseHandle['sql'] = this.database.sql,
  ): Promise<PaymentMethodRecord | null> {
    const [row] = await tx<PaymentMethodRecord[]>`
      select ${tx.unsafe(COLUMNS)} from payment_methods
      where account_id = ${accountId} and is_default and detached_at is null`;
    return row ?? null;
  }

  /** The account's card was removed (here; Stripe may have detached it a moment before). */
  async isDetached(accountId: string, paymentMethodId: string): Promise<boolean> {
    const [row] = await this.database.sql<{ detached: boolean }[]>`
      select detached_at is not null as detached from payment_methods
      where id = ${paymentMethodId} and account_id = ${accountId}`;
    return row?.detached ?? false;
  }

  async find(accountId: string, paymentMethodId: string): Promise<PaymentMethodRecord> {
    const [row] = await this.database.sql<PaymentMethodRecord[]>`
      select ${this.database.sql.unsafe(COLUMNS)} from payment_methods
      where id = ${paymentMethodId} and account_id = ${accountId} and detached_at is null`;
    if (!row) throw new ApiError(404, 'payment_method_not_found', 'no such payment method');
    return row;
  }

  async setDefault(
    accountId: string,
    paymentMethodId: string,
    actor: AuditActor,
  ): Promise<PaymentMethodRecord> {
    const chosen = await this.find(accountId, paymentMethodId);
    const customer = await this.customers.customerOf(accountId);
    await this.stripe.customers.update(customer, { invoice_settings: { default_payment_method: chosen.id } });
    const saved = await this.database.sql.begin(async (tx) => {
      await this.lockAccount(tx, accountId);
      const [before] = await tx<PaymentMethodRecord[]>`
        select ${tx.unsafe(COLUMNS)} from payment_methods where account_id = ${accountId} and is_default and detached_at is null`;
      await tx`update payment_methods set is_default = false where account_id = ${accountId} and is_default`;
      const [row] = await tx<PaymentMethodRecord[]>`
        update payment_methods set is_default = true where id = ${chosen.id} and detached_at is null
        returning ${tx.unsafe(COLUMNS)}`;
      if (!row) throw new ApiError(404, 'payment_method_not_found', 'no such payment method');
      if (before?.id !== row.id) await this.cardChanged(tx, accountId);
      await this.audit.record(tx, {
        accountId,
        actor,
        action: 'payment_method.default_changed',
        targetType: 'payment_method',
        targetId: row.id,
        before: before ? cardView(before) : null,
        after: cardView(row),
      });
      return row;
    });
    // Also when nothing changed: a request retried after dying here finishes the reload it owed.
    await this.reloadRetries.afterFix(accountId);
    return saved;
  }

  /** Detaches the card in Stripe and forgets it here; purchases keep their copy of brand and last4. */
  async remove(accountId: string, paymentMethodId: string, actor: AuditActor): Promise<void> {
    const card = await this.find(accountId, paymentMethodId);
    await this.stripe.paymentMethods.detach(card.id).catch((error: unknown) => {
      // Already detached in Stripe (e.g. by the webhook's cause): nothing left to do there.
      if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) throw error;
    });
    await this.markDetached(accountId, card.id, actor);
    if (!card.is_default) return;
    // Stripe cleared the customer's default with the detach; show the card that took its place.
    const promoted = await this.defaultOf(accountId);
    if (!promoted) return;
    await this.reloadRetries.afterFix(accountId);
    const customer = await this.customers.customerOf(accountId);
    await this.stripe.customers
      .update(customer, { invoice_settings: { default_payment_method: promoted.id } })
      .catch((error: unknown) =>
        // Informational in Stripe: charges name the card. The card is removed either way.
        this.logger.warn(`default card of customer ${customer} not updated in Stripe: ${error}`),
      );
  }

  /**
   * Forgets a card detached in Stripe (our call or payment_method.detached). Idempotent. If it was
   * the default, the newest remaining card becomes the default, so auto-reload keeps a card to
   * charge while the account has one (as the first card saved becomes the default).
   */
  async markDetached(accountId: string, paymentMethodId: string, actor: AuditActor): Promise<boolean> {
    return this.database.sql.begin(async (t) => {
      await this.lockAccount(t, accountId);
      const [row] = await t<PaymentMethodRecord[]>`
        select ${t.unsafe(COLUMNS)} from payment_methods
        where id = ${paymentMethodId} and account_id = ${accountId} and detached_at is null`;
      if (!row) return false;
      await t`update payment_methods set detached_at = now(), is_default = false where id = ${row.id}`;
      await this.audit.record(t, {
        accountId,
        actor,
        action: 'payment_method.removed',
        targetType: 'payment_method',
        targetId: row.id,
        before: cardView(row),
        after: null,
      });
      if (row.is_default) await this.promoteNewest(t, accountId, row, actor);
      return true;
    });
  }

  /**
   * Whether detaching this card made another the default. Read from the audit row promoteNewest
   * wrote in the detaching transaction (its created_at is that transaction's now(), as is the
   * card's detached_at), so a webhook redelivered after that commit still knows; an earlier
   * setDefault away from the card has another created_at.
   */
  async promotedOnDetach(accountId: string, paymentMethodId: string): Promise<boolean> {
    const [{ promoted }] = await this.database.sql<{ promoted: boolean }[]>`
      select exists (
        select 1 from payment_methods p
        join audit_log a on a.account_id = p.account_id and a.created_at = p.detached_at
        where p.id = ${paymentMethodId} and p.account_id = ${accountId}
          and a.action = 'payment_method.default_changed' and a.before->>'id' = p.id
      ) as promoted`;
    return promoted;
  }

  /**
   * Makes the newest saved card the default after the default `removed` went. Its audit row is also
   * how a redelivered payment_method.detached learns of the promotion (promotedOnDetach).
   */
  private async promoteNewest(
    tx: Tx,
    accountId: string,
    removed: PaymentMethodRecord,
    actor: AuditActor,
  ): Promise<void> {
    const [promoted] = await tx<PaymentMethodRecord[]>`
      update payment_methods set is_default = true
      where id = (select id from payment_methods where account_id = ${accountId} and detached_at is null
                  order by created_at desc, id desc limit 1)
      returning ${tx.unsafe(COLUMNS)}`;
    if (!promoted) return;
    await this.cardChanged(tx, accountId);
    await this.audit.record(tx, {
      accountId,
      actor,
      action: 'payment_method.default_changed',
      targetType: 'payment_method',
      targetId: promoted.id,
      before: cardView(removed),
      after: cardView(promoted),
    });
  }

  /** A new default card ends a pause after failed charges (not one for a dispute) and their count. */
  private async cardChanged(tx: Tx, accountId: string): Promise<void> {
    await endFailurePause(tx, accountId);
  }

  private async lockAccount(tx: Tx, accountId: string): Promise<void> {
    // Serialises card changes per account, so "exactly one default" holds under concurrency.
    // Before cardChanged locks the settings row: the lock order of auto-reload/account-lock-order.ts.
    await tx`select 1 from accounts where id = ${accountId} for update`;
  }
}

export function cardView(card: PaymentMethodRecord) {
  return {
    id: card.id,
    brand: card.brand,
    last4: card.last4,
    exp_month: card.exp_month,
    exp_year: card.exp_year,
    is_default: card.is_default,
  };
}

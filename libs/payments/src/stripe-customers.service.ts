import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import Stripe from 'stripe';
import { STRIPE } from './stripe-client';

/** One Stripe customer per account, created the first time a card or purchase needs it. */
@Injectable()
export class StripeCustomersService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(STRIPE) private readonly stripe: Stripe,
  ) {}

  async customerOf(accountId: string): Promise<string> {
    const { sql } = this.database;
    const [account] = await sql<{ stripe_customer_id: string | null; name: string; billing_email: string }[]>`
      select stripe_customer_id, name, billing_email from accounts where id = ${accountId}`;
    if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
    if (account.stripe_customer_id) return account.stripe_customer_id;
    // Concurrent first calls send the same idempotency key, so Stripe creates one customer.
    const customer = await this.stripe.customers.create(
      { name: account.name, email: account.billing_email, metadata: { account_id: accountId } },
      { idempotencyKey: `customer-${accountId}` },
    );
    await sql`update accounts set stripe_customer_id = ${customer.id} where id = ${accountId} and stripe_customer_id is null`;
    const [stored] = await sql<
      { stripe_customer_id: string }[]
    >`select stripe_customer_id from accounts where id = ${accountId}`;
    return stored.stripe_customer_id;
  }
}

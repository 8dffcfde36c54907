import { ApiError, Public, RawBodyRequest } from '@app/http';
import { BillingMetrics } from '@app/metrics';
import { Controller, Headers, HttpCode, Inject, Post, Req } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import Stripe from 'stripe';
import { PAYMENTS_OPTIONS, PaymentsOptions, STRIPE } from '../stripe-client';
import { HandleStripeEventService } from './handle-stripe-event.service';

/** Stripe's events. No bearer token: the signature over the raw body is the authentication. */
@ApiTags('webhooks')
@Controller('webhooks')
export class StripeWebhooksController {
  constructor(
    @Inject(STRIPE) private readonly stripe: Stripe,
    @Inject(PAYMENTS_OPTIONS) private readonly options: PaymentsOptions,
    private readonly events: HandleStripeEventService,
    private readonly metrics: BillingMetrics,
  ) {}

  @Post('stripe')
  @Public()
  @HttpCode(200)
  @ApiHeader({ name: 'Stripe-Signature', required: true })
  @ApiOperation({
    summary:
      'Stripe webhook endpoint: 200 once the event is handled (or was before), 400 invalid_signature, 500 to be retried',
  })
  async receive(
    @Req() request: RawBodyRequest,
    @Headers('stripe-signature') signature?: string,
  ): Promise<{ received: true; outcome: string }> {
    let event: Stripe.Event;
    try {
      if (!signature || request.rawBody === undefined) throw new Error('no signature or body');
      // Over the raw bytes as sent: re-serialised JSON would not match the signature.
      event = this.stripe.webhooks.constructEvent(request.rawBody, signature, this.options.webhookSecret);
    } catch {
      this.metrics.stripeWebhooks.inc({ type: 'unknown', outcome: 'invalid_signature' });
      throw new ApiError(400, 'invalid_signature', 'the Stripe-Signature header does not match this body');
    }
    const outcome = await this.events.handle(event);
    return { received: true, outcome: outcome.kind };
  }
}

import { auditActorOf } from '@app/audit';
import { Caller, CurrentCaller, requireIdempotencyKey, RequireScope, UuidParam } from '@app/http';
import { formatUsd, parseUsd } from '@app/money';
import { Body, Controller, Headers, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { centsToMicros } from '../../stripe-client';
import { refundCreditsMicros } from '../refund-tax';
import { RefundOutcome, RefundPurchaseService } from '../refund-purchase.service';
import { RefundPurchaseDto } from './refunds.dto';

const PurchaseIdParam = new UuidParam('purchase_not_found', 'no such purchase');

function refundView({ refund, purchase, balanceMicros }: RefundOutcome) {
  const credits = refundCreditsMicros(purchase, refund);
  return {
    id: refund.id,
    purchase_id: purchase.id,
    /** Credits taken back from the balance. */
    amount: formatUsd(credits),
    /** Tax returned with them. */
    tax: formatUsd(centsToMicros(refund.amount) - credits),
    /** What goes back to the card: amount + tax. */
    total: formatUsd(centsToMicros(refund.amount)),
    currency: refund.currency.toUpperCase(),
    status: refund.status,
    reason: refund.metadata?.reason ?? null,
    balance: balanceMicros === null ? null : formatUsd(balanceMicros),
    created_at: new Date(refund.created * 1000).toISOString(),
  };
}

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin/purchases')
export class RefundsController {
  constructor(private readonly refunds: RefundPurchaseService) {}

  @Post(':purchaseId/refunds')
  @ApiHeader({
    name: 'Idempotency-Key',
    required: true,
    description: 'Same key, same refund: never refunded or debited twice',
  })
  @ApiOperation({
    summary:
      'Refund a card purchase in Stripe and debit its credits (the balance may go below zero). 422 refund_exceeds_remaining',
  })
  async refund(
    @Param('purchaseId', PurchaseIdParam) purchaseId: string,
    @Body() body: RefundPurchaseDto,
    @CurrentCaller() caller: Caller,
    @Headers('idempotency-key') requestKey?: string,
  ) {
    const idempotencyKey = requireIdempotencyKey(requestKey);
    const outcome = await this.refunds.refund({
      purchaseId,
      amountMicros: body.amount === undefined ? null : parseUsd(body.amount),
      reason: body.reason ?? null,
      requestKey: idempotencyKey,
      actor: auditActorOf(caller),
    });
    return refundView(outcome);
  }
}

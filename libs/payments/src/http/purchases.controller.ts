import { auditActorOf } from '@app/audit';
import {
  AccountIdParam,
  AccountRoute,
  ApiError,
  Caller,
  CurrentCaller,
  requireIdempotencyKey,
  UuidParam,
} from '@app/http';
import { formatUsd, parseUsd } from '@app/money';
import { Body, Controller, Get, Headers, Param, Post, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { PurchasesService } from '../purchases.service';
import { PurchaseDto } from './payments.dto';
import { purchaseView } from './views';

const PurchaseIdParam = new UuidParam('purchase_not_found', 'no such purchase');

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/accounts/:id/purchases')
export class PurchasesController {
  constructor(private readonly purchases: PurchasesService) {}

  @Post()
  @AccountRoute('billing:manage')
  @ApiHeader({
    name: 'Idempotency-Key',
    required: true,
    description: 'Same key, same purchase: never charged twice',
  })
  @ApiOperation({
    summary:
      'Buy credits with a saved card. 201 paid and credited; 202 still processing (credited by webhook); 200 requires_action (finish with Stripe.js and client_secret); 402 declined (with decline_code)',
  })
  async purchase(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: PurchaseDto,
    @CurrentCaller() caller: Caller,
    @Res({ passthrough: true }) reply: FastifyReply,
    @Headers('idempotency-key') requestKey?: string,
  ) {
    const idempotencyKey = requireIdempotencyKey(requestKey);
    const outcome = await this.purchases.purchase({
      accountId,
      amountMicros: parseUsd(body.amount),
      paymentMethodId: body.payment_method_id,
      requestKey: idempotencyKey,
      actor: auditActorOf(caller),
    });
    if (outcome.purchase.status === 'requires_action') {
      void reply.status(200);
      return {
        ...purchaseView(outcome.purchase),
        client_secret: outcome.clientSecret,
        next_action: outcome.nextAction,
      };
    }
    if (outcome.purchase.status === 'pending') {
      void reply.status(202);
      return purchaseView(outcome.purchase);
    }
    if (outcome.purchase.status !== 'succeeded') {
      throw new ApiError(
        402,
        outcome.purchase.failure_code ?? 'card_declined',
        outcome.purchase.failure_message ?? 'the payment failed',
        {
          decline_code: outcome.purchase.decline_code,
          purchase_id: outcome.purchase.id,
        },
      );
    }
    void reply.status(201);
    return {
      ...purchaseView(outcome.purchase),
      balance: outcome.balanceMicros === null ? null : formatUsd(outcome.balanceMicros),
    };
  }

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'Purchases and auto-reloads, newest first (last 100)' })
  async list(@Param('id', AccountIdParam) accountId: string) {
    return { purchases: (await this.purchases.list(accountId)).map(purchaseView) };
  }

  @Get(':purchaseId')
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'One purchase and its status' })
  async get(
    @Param('id', AccountIdParam) accountId: string,
    @Param('purchaseId', PurchaseIdParam) purchaseId: string,
  ) {
    return purchaseView(await this.purchases.find(accountId, purchaseId));
  }
}

import { auditActorOf } from '@app/audit';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller } from '@app/http';
import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { cardView, PaymentMethodsService } from '../payment-methods.service';
import { CompleteSetupDto } from './payments.dto';

@ApiTags('billing')
@ApiBearerAuth()
@Controller('v1/accounts/:id/payment-methods')
export class PaymentMethodsController {
  constructor(private readonly cards: PaymentMethodsService) {}

  @Post('setup-intents')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary:
      'Start adding a card: a SetupIntent (off-session use) whose client_secret Stripe.js confirms on the client',
  })
  async startSetup(@Param('id', AccountIdParam) accountId: string) {
    const setup = await this.cards.startSetup(accountId);
    return { setup_intent_id: setup.setupIntentId, client_secret: setup.clientSecret };
  }

  @Post()
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'Save the card of a confirmed SetupIntent; the first card becomes the default' })
  async complete(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: CompleteSetupDto,
    @CurrentCaller() caller: Caller,
  ) {
    return cardView(await this.cards.completeSetup(accountId, body.setup_intent_id, auditActorOf(caller)));
  }

  @Get()
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'Saved cards: brand, last4, expiry, default flag' })
  async list(@Param('id', AccountIdParam) accountId: string) {
    return { payment_methods: (await this.cards.list(accountId)).map(cardView) };
  }

  @Post(':paymentMethodId/default')
  @HttpCode(200)
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'Make this card the default (the one auto-reload charges)' })
  async setDefault(
    @Param('id', AccountIdParam) accountId: string,
    @Param('paymentMethodId') paymentMethodId: string,
    @CurrentCaller() caller: Caller,
  ) {
    return cardView(await this.cards.setDefault(accountId, paymentMethodId, auditActorOf(caller)));
  }

  @Delete(':paymentMethodId')
  @HttpCode(204)
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: 'Remove a card (detached in Stripe); past purchases keep brand and last4' })
  async remove(
    @Param('id', AccountIdParam) accountId: string,
    @Param('paymentMethodId') paymentMethodId: string,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    await this.cards.remove(accountId, paymentMethodId, auditActorOf(caller));
  }
}

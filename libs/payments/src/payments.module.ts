import { CatalogModule } from '@app/catalog';
import { StripeEnv } from '@app/config';
import { LedgerModule } from '@app/ledger';
import { DynamicModule, Module } from '@nestjs/common';
import { PaymentMethodsService } from './payment-methods.service';
import { PurchaseSettlementService } from './purchase-settlement.service';
import { PurchasesService } from './purchases.service';
import { createStripeClient, PAYMENTS_OPTIONS, paymentsOptionsFromEnv, STRIPE } from './stripe-client';
import { StripeCustomersService } from './stripe-customers.service';

const SERVICES = [StripeCustomersService, PaymentMethodsService, PurchaseSettlementService, PurchasesService];

/** Cards, purchases and their settlement; Stripe only through the official SDK. */
@Module({})
export class PaymentsModule {
  static forRoot(env: StripeEnv): DynamicModule {
    return {
      module: PaymentsModule,
      imports: [CatalogModule, LedgerModule],
      providers: [
        { provide: STRIPE, useValue: createStripeClient(env) },
        { provide: PAYMENTS_OPTIONS, useValue: paymentsOptionsFromEnv(env) },
        ...SERVICES,
      ],
      exports: [STRIPE, PAYMENTS_OPTIONS, ...SERVICES],
    };
  }
}

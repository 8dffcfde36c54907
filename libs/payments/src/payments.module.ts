import { AlertsModule, AutoReloadAlertsObserver } from '@app/alerts';
import { CatalogModule } from '@app/catalog';
import { InvoiceIssueModule } from '@app/invoices';
import { StripeEnv } from '@app/config';
import { LedgerModule } from '@app/ledger';
import { FAILPOINT, FailpointName } from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AUTO_RELOAD_OBSERVERS, AutoReloadObserver } from './auto-reload/auto-reload-outcome';
import { AutoReloadJobs } from './auto-reload/auto-reload-jobs.service';
import { AutoReloadSettingsService } from './auto-reload/auto-reload-settings.service';
import { ChargeAutoReloadService } from './auto-reload/charge-auto-reload.service';
import { RecordAutoReloadOutcomeService } from './auto-reload/record-auto-reload-outcome.service';
import { ReloadAfterCapResetService } from './auto-reload/reload-after-cap-reset.service';
import {
  AUTO_RELOAD_SWEEP,
  AutoReloadSweepOptions,
  SweepAutoReloadsService,
} from './auto-reload/sweep-auto-reloads.service';
import { PaidCardService } from './paid-card.service';
import { RetryAutoReloadService } from './auto-reload/retry-auto-reload.service';
import { PaymentMethodsService } from './payment-methods.service';
import { PurchaseSettlementService } from './purchase-settlement.service';
import { PurchasesService } from './purchases.service';
import { RecordRefundService } from './refunds/record-refund.service';
import { RefundPurchaseService } from './refunds/refund-purchase.service';
import { createStripeClient, PAYMENTS_OPTIONS, paymentsOptionsFromEnv, STRIPE } from './stripe-client';
import { StripeCustomersService } from './stripe-customers.service';
import { StripeErrorsInterceptor } from './stripe-errors';
import { FlagDisputeService } from './webhooks/flag-dispute.service';
import { HandleStripeEventService } from './webhooks/handle-stripe-event.service';
import { StripeOwnersService } from './webhooks/stripe-owners.service';
import { SyncCardsService } from './webhooks/sync-cards.service';
import { SyncPaymentIntentService } from './webhooks/sync-payment-intent.service';
import { SyncRefundsService } from './webhooks/sync-refunds.service';

const SERVICES = [
  AutoReloadJobs,
  RetryAutoReloadService,
  StripeCustomersService,
  PaymentMethodsService,
  PaidCardService,
  PurchaseSettlementService,
  PurchasesService,
  AutoReloadSettingsService,
  RecordAutoReloadOutcomeService,
  ChargeAutoReloadService,
  ReloadAfterCapResetService,
  SweepAutoReloadsService,
];

/** Refunds (admin route and charge.refunded) and the Stripe webhook's handlers. */
const REFUND_AND_WEBHOOK_SERVICES = [
  RecordRefundService,
  RefundPurchaseService,
  StripeOwnersService,
  SyncPaymentIntentService,
  SyncCardsService,
  SyncRefundsService,
  FlagDisputeService,
  HandleStripeEventService,
];

/** Cards, purchases and their settlement; Stripe only through the official SDK. */
@Module({})
export class PaymentsModule {
  /** `failpoint`: the worker's test-only crash point (libs/usage/src/failpoint.ts); the api has none. */
  /** `sweep`: the worker's settings of SweepAutoReloadsService (run by its scheduled job); the api gives none. */
  static forRoot(env: StripeEnv, failpoint?: FailpointName, sweep?: AutoReloadSweepOptions): DynamicModule {
    return {
      module: PaymentsModule,
      imports: [CatalogModule, LedgerModule, InvoiceIssueModule, AlertsModule.forRaisers()],
      providers: [
        { provide: STRIPE, useValue: createStripeClient(env) },
        { provide: PAYMENTS_OPTIONS, useValue: paymentsOptionsFromEnv(env) },
        { provide: FAILPOINT, useValue: failpoint },
        { provide: AUTO_RELOAD_SWEEP, useValue: sweep ?? null },
        // Every observer of auto-reload outcomes (libs/payments auto-reload-outcome.ts): add more to inject.
        {
          provide: AUTO_RELOAD_OBSERVERS,
          useFactory: (...observers: AutoReloadObserver[]) => observers,
          inject: [AutoReloadAlertsObserver],
        },
        // Every route's Stripe failures as our answers: never Stripe's status or message (our key).
        { provide: APP_INTERCEPTOR, useClass: StripeErrorsInterceptor },
        ...SERVICES,
        ...REFUND_AND_WEBHOOK_SERVICES,
      ],
      exports: [STRIPE, PAYMENTS_OPTIONS, ...SERVICES, ...REFUND_AND_WEBHOOK_SERVICES],
    };
  }
}

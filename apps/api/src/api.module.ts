import {
  AccessModule,
  ApiKeysController,
  AuditLogController,
  freeModelLimitsFromEnv,
  IpAllowlistController,
  MembersController,
  ProjectsController,
} from '@app/access';
import { AlertSettingsController, AlertsModule, BudgetsController } from '@app/alerts';
import { AccountsAdminController, AccountsController, CatalogModule, ModelsController } from '@app/catalog';
import { ApiEnv, ConfigModule } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import {
  BillingProfileController,
  InvoicesAdminController,
  InvoicesController,
  InvoicePdfController,
  InvoiceBillingController,
  InvoiceBillingModule,
  InvoiceExportsController,
  InvoiceExportsModule,
  InvoiceRenderModule,
  InvoicesModule,
  InvoiceStatementsController,
  TaxExemptionsAdminController,
  TaxExemptionsController,
  TaxModule,
} from '@app/invoices';
import { ExportReconcileCliPass, LedgerAdminController, LedgerModule } from '@app/ledger';
import { MetricsModule } from '@app/metrics';
import { InvoiceAlertsModule } from '@app/notifications';
import {
  AutoReloadController,
  PaymentMethodsController,
  PaymentsModule,
  PurchasesController,
  RefundsController,
  StripeWebhooksController,
} from '@app/payments';
import { RedisModule } from '@app/redis';
import { StorageModule } from '@app/storage';
import {
  UsageCsvController,
  UsageExportModule,
  UsageSummaryController,
  UsageSummaryModule,
} from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';

/**
 * The admin and workspace process: accounts, credit grants, the price catalog, reconciliation on
 * demand; members, projects, API keys, IP allowlists and the audit log of each workspace.
 */
@Module({})
export class ApiModule {
  static register(config: ApiEnv): DynamicModule {
    return {
      module: ApiModule,
      imports: [
        ConfigModule.forRoot(config),
        loggingModule(config.LOG_LEVEL),
        DbModule,
        RedisModule,
        MetricsModule.forApp('api'),
        AuthModule.forRoot({ adminToken: config.ADMIN_TOKEN, gatewayTokens: config.GATEWAY_TOKENS }),
        AccessModule.forRoot(freeModelLimitsFromEnv(config)),
        CatalogModule,
        LedgerModule,
        // Global: payments asks it for the tax of every purchase it opens.
        TaxModule.forRoot(config),
        PaymentsModule.forRoot(config),
        AlertsModule.forApi(),
        // The admin statement and overdue routes raise the invoice due / overdue emails.
        InvoiceAlertsModule.forRoot(config.PUBLIC_API_URL),
        InvoicesModule,
        InvoiceBillingModule.forRoot(config.FAILPOINT),
        StorageModule.forRoot(config),
        InvoiceRenderModule.forApi(config),
        InvoiceExportsModule.forApi(config),
        UsageExportModule,
        UsageSummaryModule,
      ],
      controllers: [
        AccountsAdminController,
        AccountsController,
        ModelsController,
        LedgerAdminController,
        MembersController,
        ProjectsController,
        ApiKeysController,
        IpAllowlistController,
        AuditLogController,
        PaymentMethodsController,
        PurchasesController,
        AutoReloadController,
        BudgetsController,
        AlertSettingsController,
        RefundsController,
        StripeWebhooksController,
        InvoicesController,
        InvoiceBillingController,
        InvoiceStatementsController,
        InvoicesAdminController,
        InvoicePdfController,
        BillingProfileController,
        TaxExemptionsController,
        TaxExemptionsAdminController,
        InvoiceExportsController,
        UsageCsvController,
        UsageSummaryController,
      ],
      // /metrics shows the last `npm run reconcile` pass, which no scraped process ran.
      providers: [ExportReconcileCliPass],
    };
  }
}

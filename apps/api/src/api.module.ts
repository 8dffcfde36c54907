import {
  AccessModule,
  ApiKeysController,
  AuditLogController,
  freeModelLimitsFromEnv,
  IpAllowlistController,
  MembersController,
  ProjectsController,
} from '@app/access';
import { AccountsAdminController, AccountsController, CatalogModule, ModelsController } from '@app/catalog';
import { ApiEnv, ConfigModule } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import { LedgerAdminController, LedgerModule } from '@app/ledger';
import { MetricsModule } from '@app/metrics';
import {
  AutoReloadController,
  PaymentMethodsController,
  PaymentsModule,
  PurchasesController,
  RefundsController,
  StripeWebhooksController,
} from '@app/payments';
import { RedisModule } from '@app/redis';
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
        PaymentsModule.forRoot(config),
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
        RefundsController,
        StripeWebhooksController,
      ],
    };
  }
}

import { AccountsAdminController, CatalogModule, ModelsController } from '@app/catalog';
import { ApiEnv, ConfigModule } from '@app/config';
import { DbModule } from '@app/db';
import { AuthModule, loggingModule } from '@app/http';
import { LedgerAdminController, LedgerModule } from '@app/ledger';
import { MetricsModule } from '@app/metrics';
import { RedisModule } from '@app/redis';
import { DynamicModule, Module } from '@nestjs/common';

/** The admin process: accounts, credit grants, the price catalog, reconciliation on demand. */
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
        CatalogModule,
        LedgerModule,
      ],
      controllers: [AccountsAdminController, ModelsController, LedgerAdminController],
    };
  }
}

import { DynamicModule, Global, Module } from '@nestjs/common';
import { BillingMetrics } from './billing-metrics';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';

@Global()
@Module({})
export class MetricsModule {
  /** /metrics and /health for one app; `app` becomes a label on every series. */
  static forApp(app: string): DynamicModule {
    return {
      module: MetricsModule,
      controllers: [MetricsController, HealthController],
      providers: [{ provide: BillingMetrics, useValue: new BillingMetrics(app) }],
      exports: [BillingMetrics],
    };
  }
}

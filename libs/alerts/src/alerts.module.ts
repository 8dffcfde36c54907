import { CatalogModule } from '@app/catalog';
import { USAGE_ALERTS } from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';
import { AlertMailer } from './alert-mailer.service';
import { AlertRaiser } from './alert-raiser.service';
import { AlertSettingsService } from './alert-settings.service';
import { AutoReloadAlertsObserver } from './auto-reload-alerts.observer';
import { BudgetsService } from './budgets.service';
import { UsageAlertsService } from './detect/usage-alerts.service';
import { SpendRepository } from './spend.repository';
import { SpendService } from './spend.service';

/**
 * Budgets, alert settings, spend and projections (api), alert detection for usage batches and
 * auto-reload outcomes (worker), and AlertRaiser for other raisers (invoices).
 */
@Module({})
export class AlertsModule {
  /** Raising alerts: AlertRaiser and the auto-reload observer (register it under AUTO_RELOAD_OBSERVERS). */
  static forRaisers(): DynamicModule {
    return {
      module: AlertsModule,
      providers: [AlertMailer, AlertRaiser, SpendRepository, AutoReloadAlertsObserver],
      exports: [AlertRaiser, SpendRepository, AutoReloadAlertsObserver],
    };
  }

  /** For UsageModule.forWorker(failpoint, AlertsModule.forUsageWorker()): provides USAGE_ALERTS. */
  static forUsageWorker(): DynamicModule {
    return {
      module: AlertsModule,
      imports: [CatalogModule],
      providers: [
        AlertMailer,
        AlertRaiser,
        SpendRepository,
        UsageAlertsService,
        { provide: USAGE_ALERTS, useExisting: UsageAlertsService },
      ],
      exports: [USAGE_ALERTS],
    };
  }

  /** The api's routes: budgets, alert settings, spend (BudgetsController, AlertSettingsController). */
  static forApi(): DynamicModule {
    return {
      module: AlertsModule,
      imports: [CatalogModule],
      providers: [BudgetsService, AlertSettingsService, SpendRepository, SpendService],
      exports: [BudgetsService, AlertSettingsService, SpendService],
    };
  }
}

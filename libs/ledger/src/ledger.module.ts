import { CatalogModule } from '@app/catalog';
import { Module } from '@nestjs/common';
import { BalanceRepository } from './balance-repository';
import { BalanceStore } from './balance-store';
import { UsageJobPresence } from './dead-usage-reservations';
import { DeferredSettles } from './deferred-settles';
import { GrantCreditsService } from './grant-credits.service';
import { LedgerChangeService } from './ledger-change.service';
import { ReconcileBalancesService } from './reconcile-balances.service';
import { ReconcileCliPassStore } from './reconcile-cli-pass.store';

@Module({
  imports: [CatalogModule],
  providers: [
    BalanceRepository,
    BalanceStore,
    DeferredSettles,
    LedgerChangeService,
    GrantCreditsService,
    ReconcileBalancesService,
    ReconcileCliPassStore,
    UsageJobPresence,
  ],
  exports: [
    BalanceStore,
    DeferredSettles,
    LedgerChangeService,
    GrantCreditsService,
    ReconcileBalancesService,
    ReconcileCliPassStore,
  ],
})
export class LedgerModule {}

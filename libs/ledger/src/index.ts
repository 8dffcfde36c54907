export * from './balance-repository';
export * from './balance-store';
export * from './grant-credits.service';
export * from './reconcile-balances.service';
export * from './ledger.module';
export * from './ledger-scripts';
export * from './http/credit-grants.controller';
export * from './ledger-change.service';

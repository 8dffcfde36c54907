export * from './accounts.table';
export * from './account-balances.table';
export * from './model-prices.table';
export * from './usage-events.table';
export * from './ledger-entries.table';

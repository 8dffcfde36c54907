export * from './schema';
export * from './database';
export * from './db.module';
export * from './migrate';
export * from './keyset-cursor';
export * from './array-literal';
export * from './postgres-failures';

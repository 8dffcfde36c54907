export * from './redis-keys';
export * from './redis-connection';
export * from './redis.module';
export * from './repeated-error-log';
export * from './wait-for-redis';

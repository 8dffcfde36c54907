export * from './billing-metrics';
export * from './metrics.module';
export * from './health.controller';
export * from './observe-http-requests';

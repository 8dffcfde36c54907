export * from './summary-dimensions';
export * from './usage-summary.service';
export * from './usage-summary.controller';
export * from './usage-summary.module';

export * from './audit-entry';
export * from './audit-log.service';
export * from './audit-query.service';
export * from './audit-retention';
export * from './prune-audit-log.service';
export * from './audit.module';

import { DynamicModule, Module } from '@nestjs/common';
import { AuditLogService } from './audit-log.service';
import { AuditQueryService } from './audit-query.service';
import { AUDIT_RETENTION, AuditRetention, DEFAULT_AUDIT_RETENTION } from './audit-retention';
import { PruneAuditLogService } from './prune-audit-log.service';

/** Global: money, catalog and workspace writers all record into it. DATABASE comes from the global DbModule. */
@Module({})
export class AuditModule {
  static forRoot(retention: AuditRetention = DEFAULT_AUDIT_RETENTION): DynamicModule {
    return {
      module: AuditModule,
      global: true,
      providers: [
        { provide: AUDIT_RETENTION, useValue: retention },
        AuditLogService,
        AuditQueryService,
        PruneAuditLogService,
      ],
      exports: [AUDIT_RETENTION, AuditLogService, AuditQueryService, PruneAuditLogService],
    };
  }
}

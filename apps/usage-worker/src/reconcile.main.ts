import 'reflect-metadata';
import { AuditModule } from '@app/audit';
import { ConfigModule, loadConfig, workerEnvSchema } from '@app/config';
import { DbModule } from '@app/db';
import {
  LedgerModule,
  ReconcileBalancesService,
  ReconcileCliPassStore,
  reconcileReportJson,
} from '@app/ledger';
import { MetricsModule } from '@app/metrics';
import { RedisModule } from '@app/redis';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { cliLogger } from './cli-logger';

/**
 * `npm run reconcile`: one reconciliation pass now, printing what it found and repaired, and
 * recording it in Redis for the api's /metrics (billing_reconcile_cli_*).
 */
async function main(): Promise<void> {
  const config = loadConfig(workerEnvSchema);

  @Module({
    imports: [
      ConfigModule.forRoot(config),
      DbModule,
      RedisModule,
      MetricsModule.forApp('reconcile'),
      // The catalog that LedgerModule brings records its writes in the audit log (never here).
      AuditModule.forRoot(),
      LedgerModule,
    ],
  })
  class ReconcileModule {}

  const app = await NestFactory.createApplicationContext(ReconcileModule, {
    logger: cliLogger(),
  });
  try {
    const report = await app.get(ReconcileBalancesService).reconcileAll();
    // This process is never scraped: the api's /metrics exports what it records.
    await app.get(ReconcileCliPassStore).record(report);
    console.log(JSON.stringify(reconcileReportJson(report)));
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

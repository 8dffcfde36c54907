import { Module } from '@nestjs/common';
import { CsvExportSlots } from './csv-export-slots';
import { UsageCsvExport } from './usage-csv-export.service';

/**
 * The usage CSV export and the process's export slots (shared with the invoices CSV), for the api
 * app. DATABASE and APP_CONFIG are global.
 */
@Module({
  providers: [UsageCsvExport, CsvExportSlots],
  exports: [UsageCsvExport, CsvExportSlots],
})
export class UsageExportModule {}

import { ApiEnv } from '@app/config';
import { DynamicModule, Module } from '@nestjs/common';
import { BuildInvoiceExportService } from './build-invoice-export.service';
import { INVOICE_EXPORT_URL_TTL_SECONDS, InvoiceExportsService } from './invoice-exports.service';
import { InvoicesCsvExport } from './invoices-csv-export.service';

/**
 * Invoice exports: CSV and zip requests in the api, zip building in the worker. Needs the global
 * DbModule, StorageModule, AuditModule and MetricsModule.
 */
@Module({})
export class InvoiceExportsModule {
  static forApi(env: ApiEnv): DynamicModule {
    return {
      module: InvoiceExportsModule,
      providers: [
        // Download links of zips live as long as those of single invoices.
        { provide: INVOICE_EXPORT_URL_TTL_SECONDS, useValue: env.INVOICE_URL_TTL_SECONDS },
        InvoicesCsvExport,
        InvoiceExportsService,
      ],
      exports: [InvoicesCsvExport, InvoiceExportsService],
    };
  }

  static forWorker(): DynamicModule {
    return {
      module: InvoiceExportsModule,
      providers: [BuildInvoiceExportService],
      exports: [BuildInvoiceExportService],
    };
  }
}

import { AlertsModule } from '@app/alerts';
import { INVOICE_OVERDUE_LISTENER, INVOICE_PDF_LISTENER, USAGE_STATEMENT_LISTENER } from '@app/invoices';
import { DynamicModule, Module } from '@nestjs/common';
import { INVOICE_EMAIL_LINK_BASE, InvoiceAlertsListener } from './invoice-alerts.listener';

/**
 * The invoice emails (invoice ready, due, overdue): provides libs/invoices' listener tokens
 * globally, so the render worker, the statement run and the overdue marker find them in any app
 * that imports this (the background worker, and the api for the admin statement and overdue routes).
 */
@Module({})
export class InvoiceAlertsModule {
  static forRoot(publicApiUrl: string): DynamicModule {
    return {
      module: InvoiceAlertsModule,
      global: true,
      imports: [AlertsModule.forRaisers()],
      providers: [
        { provide: INVOICE_EMAIL_LINK_BASE, useValue: publicApiUrl },
        InvoiceAlertsListener,
        { provide: INVOICE_PDF_LISTENER, useExisting: InvoiceAlertsListener },
        { provide: INVOICE_OVERDUE_LISTENER, useExisting: InvoiceAlertsListener },
        { provide: USAGE_STATEMENT_LISTENER, useExisting: InvoiceAlertsListener },
      ],
      exports: [INVOICE_PDF_LISTENER, INVOICE_OVERDUE_LISTENER, USAGE_STATEMENT_LISTENER],
    };
  }
}

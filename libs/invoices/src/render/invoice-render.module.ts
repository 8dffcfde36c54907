import { ApiEnv, WorkerEnv } from '@app/config';
import { FAILPOINT } from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';
import { sellerDetailsFromEnv } from './invoice-document';
import { InvoicePdfLinkService, INVOICE_URL_TTL_SECONDS } from './invoice-pdf-link.service';
import { InvoiceRenderQueueModule } from './invoice-render-queue.module';
import { INVOICE_RENDER_SWEEP, InvoiceRenderSweeper } from './invoice-render-sweeper';
import { INVOICE_SELLER, RenderInvoicePdfService } from './render-invoice-pdf.service';

/** Invoice PDFs: rendering and the sweep in the worker, download links in the api. Needs StorageModule. */
@Module({})
export class InvoiceRenderModule {
  static forWorker(env: WorkerEnv): DynamicModule {
    return {
      module: InvoiceRenderModule,
      imports: [InvoiceRenderQueueModule],
      providers: [
        { provide: INVOICE_SELLER, useValue: sellerDetailsFromEnv(env) },
        { provide: FAILPOINT, useValue: env.FAILPOINT },
        {
          provide: INVOICE_RENDER_SWEEP,
          useValue: {
            intervalMs: env.INVOICE_RENDER_SWEEP_INTERVAL_MS,
            olderThanSeconds: env.INVOICE_RENDER_SWEEP_AGE_SECONDS,
          },
        },
        RenderInvoicePdfService,
        InvoiceRenderSweeper,
      ],
      exports: [RenderInvoicePdfService, InvoiceRenderQueueModule],
    };
  }

  static forApi(env: ApiEnv): DynamicModule {
    return {
      module: InvoiceRenderModule,
      imports: [InvoiceRenderQueueModule],
      providers: [
        { provide: INVOICE_URL_TTL_SECONDS, useValue: env.INVOICE_URL_TTL_SECONDS },
        InvoicePdfLinkService,
      ],
      exports: [InvoicePdfLinkService, InvoiceRenderQueueModule],
    };
  }
}

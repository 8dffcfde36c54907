import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InvoiceRenderScheduler } from './invoice-render-scheduler.service';

export interface InvoiceRenderSweepOptions {
  /** 0 disables the sweep. */
  intervalMs: number;
  olderThanSeconds: number;
}

export const INVOICE_RENDER_SWEEP = Symbol('INVOICE_RENDER_SWEEP');

/**
 * In the worker: now and then queues invoices still without a PDF, and re-renders those whose PDF
 * shows a status they have left. Several workers may sweep at once; job ids dedupe the renders, and
 * a duplicate re-render draws the same bytes.
 */
@Injectable()
export class InvoiceRenderSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(InvoiceRenderSweeper.name);
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly scheduler: InvoiceRenderScheduler,
    @Inject(INVOICE_RENDER_SWEEP) private readonly options: InvoiceRenderSweepOptions,
  ) {}

  onApplicationBootstrap(): void {
    if (this.options.intervalMs === 0) return;
    this.timer = setInterval(() => void this.sweepOnce(), this.options.intervalMs).unref();
    void this.sweepOnce();
  }

  async sweepOnce(): Promise<number> {
    try {
      const queued = await this.scheduler.sweep(this.options.olderThanSeconds);
      if (queued > 0)
        this.logger.log(`queued ${queued} invoice(s) without a PDF, or whose PDF shows an old status`);
      return queued;
    } catch (error) {
      this.logger.warn(`invoice render sweep failed: ${(error as Error).message}`);
      return 0;
    }
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }
}

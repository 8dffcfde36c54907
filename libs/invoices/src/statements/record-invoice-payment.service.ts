import { AuditActor, AuditLogService } from '@app/audit';
import { DATABASE, DatabaseHandle } from '@app/db';
import { LedgerChangeService } from '@app/ledger';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { InvoiceRenderScheduler } from '../render/invoice-render-scheduler.service';

export interface InvoicePaymentRequest {
  invoiceId: string;
  /** The caller's Idempotency-Key: the same key replays the first answer. */
  requestKey: string;
  /** Optional: the wire or check reference the payment came with. */
  reference: string | null;
  actor: AuditActor;
}

export interface InvoicePayment {
  invoiceId: string;
  number: string;
  status: 'paid';
  paidAt: Date;
  creditedMicros: bigint;
  balanceMicros: bigint;
  replayed: boolean;
}

export class InvoicePaymentError extends Error {
  constructor(
    readonly status: 404 | 409,
    readonly code: 'invoice_not_found' | 'invoice_not_payable' | 'invoice_already_paid',
    message: string,
  ) {
    super(message);
  }
}

export function invoicePaymentLedgerKey(invoiceId: string): string {
  return `invoice-payment:${invoiceId}`;
}

interface InvoiceRow {
  id: string;
  account_id: string;
  number: string;
  kind: string;
  status: string;
  total_micros: bigint;
  tax_micros: bigint;
  paid_at: Date | null;
}

/**
 * Records that a usage statement was paid (wire, check): the invoice becomes paid and the balance
 * gets an invoice_payment credit, through the ledger protocol so Redis and Postgres stay equal.
 *
 * The credit is the invoice's total less its tax: that is what the month's usage took from the
 * balance once the statement's rating adjustment (discount, cent rounding) is counted; the tax is
 * owed to the tax authority, not spendable credit. The ledger key names the invoice, so an
 * invoice is credited once whatever Idempotency-Key is sent; a second key gets 409.
 */
@Injectable()
export class RecordInvoicePaymentService {
  private readonly logger = new Logger(RecordInvoicePaymentService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly ledger: LedgerChangeService,
    private readonly audit: AuditLogService,
    private readonly renders: InvoiceRenderScheduler,
  ) {}

  async record(request: InvoicePaymentRequest): Promise<InvoicePayment> {
    const [invoice] = await this.database.sql<InvoiceRow[]>`
      select id, account_id, number, kind, status, total_micros, tax_micros, paid_at
      from invoices where id = ${request.invoiceId}`;
    if (!invoice) throw new InvoicePaymentError(404, 'invoice_not_found', 'no such invoice');
    if (invoice.kind !== 'usage_statement') {
      throw new InvoicePaymentError(
        409,
        'invoice_not_payable',
        'only usage statements are paid this way; purchase invoices are paid by card',
      );
    }
    if (invoice.status === 'void')
      throw new InvoicePaymentError(409, 'invoice_not_payable', 'the invoice is void');
    const creditMicros = invoice.total_micros - invoice.tax_micros;
    let paidAt: Date | null = invoice.paid_at;
    const applied = await this.ledger.apply({
      accountId: invoice.account_id,
      kind: 'invoice_payment',
      amountMicros: creditMicros,
      ledgerKey: invoicePaymentLedgerKey(invoice.id),
      source: {
        invoice_id: invoice.id,
        number: invoice.number,
        request_key: request.requestKey,
        reference: request.reference,
      },
      alsoInTransaction: async (tx, balanceMicros) => {
        const [paid] = await tx<{ paid_at: Date; status: string }[]>`
          update invoices set status = 'paid', paid_at = now(), updated_at = now()
          where id = ${invoice.id} and status in ('open', 'overdue')
          returning paid_at, status`;
        // Voided (or paid) in between: roll the credit back rather than credit an unpayable invoice.
        // Paid without an invoice_payment row: a statement of $0.00, settled when it was issued.
        if (!paid && invoice.status === 'paid')
          throw new InvoicePaymentError(
            409,
            'invoice_already_paid',
            `invoice ${invoice.number} is already paid`,
          );
        if (!paid) throw new InvoicePaymentError(409, 'invoice_not_payable', 'the invoice is no longer open');
        paidAt = paid.paid_at;
        await this.audit.record(tx, {
          accountId: invoice.account_id,
          actor: request.actor,
          action: 'invoice.paid',
          targetType: 'invoice',
          targetId: invoice.id,
          before: { status: invoice.status, balance_micros: balanceMicros - creditMicros },
          after: {
            status: 'paid',
            number: invoice.number,
            credited_micros: creditMicros,
            balance_micros: balanceMicros,
            reference: request.reference,
          },
        });
      },
    });
    // The PDF shows the status ("Paid", no amount due): draw it again. Also on a replay, so a
    // client retrying after a crash between the commit and this line gets it re-drawn. The payment
    // has committed: a lost enqueue (Redis down) is the render sweep's to repair, not an error.
    await this.renders
      .rerender(invoice.id)
      .catch((error: unknown) =>
        this.logger.warn(
          `invoice ${invoice.number}: re-render not queued, left to the sweep: ${String(error)}`,
        ),
      );
    if (applied.replayed) {
      if (applied.source.request_key !== request.requestKey) {
        throw new InvoicePaymentError(
          409,
          'invoice_already_paid',
          `invoice ${invoice.number} is already paid`,
        );
      }
      const [row] = await this.database.sql<
        { paid_at: Date }[]
      >`select paid_at from invoices where id = ${invoice.id}`;
      paidAt = row.paid_at;
    }
    return {
      invoiceId: invoice.id,
      number: invoice.number,
      status: 'paid',
      paidAt: paidAt!,
      creditedMicros: applied.amountMicros,
      balanceMicros: applied.balanceMicros,
      replayed: applied.replayed,
    };
  }
}

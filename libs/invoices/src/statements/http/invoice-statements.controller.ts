import { auditActorOf } from '@app/audit';
import { ApiError, Caller, CurrentCaller, requireIdempotencyKey, RequireScope, UuidParam } from '@app/http';
import { formatUsd } from '@app/money';
import { Body, Controller, Headers, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, Matches, MaxLength } from 'class-validator';
import { IssueUsageStatementsService, StatementRun } from '../issue-usage-statements.service';
import { MarkOverdueInvoicesService } from '../mark-overdue-invoices.service';
import { InvoicePaymentError, RecordInvoicePaymentService } from '../record-invoice-payment.service';
import { statementPeriod } from '../statement-period';

const InvoiceIdParam = new UuidParam('invoice_not_found', 'no such invoice');

export class RunStatementsDto {
  @ApiProperty({ example: '2026-10', description: 'A calendar month (UTC) that has ended, YYYY-MM' })
  @Matches(/^\d{4}-(0[1-9]|1[0-2])$/, { message: 'month must be YYYY-MM' })
  month: string;

  @ApiPropertyOptional({ description: 'Only this account (default: every invoice-billing account)' })
  @IsOptional()
  @IsUUID()
  account_id?: string;
}

export class InvoicePaymentDto {
  @ApiPropertyOptional({
    example: 'WIRE-2026-11-0042',
    description: 'Bank or check reference, kept in the ledger and audit log',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  reference?: string;
}

function runView(run: StatementRun) {
  return {
    month: run.month,
    issued: run.issued.map((statement) => ({
      account_id: statement.accountId,
      invoice_id: statement.invoiceId,
      number: statement.number,
      total: formatUsd(statement.totalMicros),
    })),
    already_issued: run.alreadyIssued,
    without_usage: run.withoutUsage,
    failed: run.failed.map((failure) => ({ account_id: failure.accountId, error: failure.error })),
  };
}

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin')
export class InvoiceStatementsController {
  constructor(
    private readonly statements: IssueUsageStatementsService,
    private readonly overdue: MarkOverdueInvoicesService,
    private readonly payments: RecordInvoicePaymentService,
  ) {}

  @Post('invoice-statements/run')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Issue the month's missing usage statements now (the scheduled job does this for the previous month every hour from the 1st). Safe to repeat: an account's month is invoiced once. 422 period_not_ended for a month still running",
  })
  async run(@Body() body: RunStatementsDto) {
    const period = statementPeriod(body.month);
    if (!period) throw new ApiError(422, 'validation_failed', 'month must be YYYY-MM');
    if (period.end.getTime() > Date.now()) {
      throw new ApiError(
        422,
        'period_not_ended',
        `${body.month} has not ended yet; its usage is still coming in`,
      );
    }
    return runView(await this.statements.issueForMonth(period, body.account_id?.toLowerCase()));
  }

  @Post('invoice-statements/mark-overdue')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Mark open invoices past their due date overdue now (the scheduled job does this hourly)',
  })
  async markOverdue() {
    return this.overdue.markOverdue();
  }

  @Post('invoices/:invoiceId/payments')
  @HttpCode(200)
  @ApiHeader({
    name: 'Idempotency-Key',
    required: true,
    description: 'Same key, same answer; the invoice is credited once',
  })
  @ApiOperation({
    summary:
      'Record the payment of a usage statement (wire, check): status paid, and an invoice_payment credit of its total less tax on the balance. 409 invoice_already_paid for a second payment',
  })
  async pay(
    @Param('invoiceId', InvoiceIdParam) invoiceId: string,
    @Body() body: InvoicePaymentDto,
    @CurrentCaller() caller: Caller,
    @Headers('idempotency-key') requestKey?: string,
  ) {
    const key = requireIdempotencyKey(requestKey);
    try {
      const payment = await this.payments.record({
        invoiceId,
        requestKey: key,
        reference: body.reference ?? null,
        actor: auditActorOf(caller),
      });
      return {
        invoice_id: payment.invoiceId,
        number: payment.number,
        status: payment.status,
        paid_at: payment.paidAt.toISOString(),
        credited: formatUsd(payment.creditedMicros),
        balance: formatUsd(payment.balanceMicros),
      };
    } catch (error) {
      if (error instanceof InvoicePaymentError) throw new ApiError(error.status, error.code, error.message);
      throw error;
    }
  }
}

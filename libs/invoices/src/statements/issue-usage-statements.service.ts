import { DATABASE, DatabaseHandle, Tx } from '@app/db';
import { LedgerChangeService } from '@app/ledger';
import { crashAt, FAILPOINT, FailpointName } from '@app/usage';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { graduatedDiscountMicros, roundToCents } from '../billing-terms/volume-discount';
import { AfterCommit } from '../invoice-listeners';
import { InvoiceDraft, IssuedInvoice } from '../issue/invoice-draft';
import { InvoiceIssuer } from '../issue/invoice-issuer.service';
import { TaxQuoteService } from '../tax/tax-quote.service';
import { addDays, previousMonth, StatementPeriod, statementPeriod } from './statement-period';
import { InvoiceBillingSince, previousStatement, readStatementUsage } from './statement-usage';

/**
 * Scheduled runs leave the first minutes of a month to usage still in the queue or buffered by
 * gateways; the admin route runs at once.
 */
export const STATEMENT_GRACE_MS = 15 * 60_000;

/** Names the statement's rating in the ledger; unique, so a month is rated into an invoice once. */
export function statementLedgerKey(accountId: string, month: string): string {
  return `usage-statement:${accountId}:${month}`;
}

/**
 * Serialises an account's statement runs, whatever their months: a run reads the usage not on the
 * account's earlier statements, so two months rated at once would both take the events of the
 * month between them (a run for September and one for October, both after August's statement).
 */
export function statementLockKey(accountId: string): string {
  return `usage-statement:${accountId}`;
}

export interface IssuedStatement {
  accountId: string;
  invoiceId: string;
  number: string;
  totalMicros: bigint;
}

export interface StatementRun {
  month: string;
  issued: IssuedStatement[];
  /** Accounts whose statement for the month already existed. */
  alreadyIssued: number;
  /** Invoice-billing accounts with no usage in the month: no statement. */
  withoutUsage: number;
  failed: { accountId: string; error: string }[];
}

/**
 * Where emailing a statement hooks in (libs/alerts): called inside the statement's transaction,
 * so what it writes (the invoice_due alert) commits with the statement or not at all; returns
 * what to do once that transaction committed.
 */
export const USAGE_STATEMENT_LISTENER = Symbol('USAGE_STATEMENT_LISTENER');
export interface UsageStatementListener {
  statementIssued(tx: Tx, statement: IssuedStatement): Promise<AfterCommit | null>;
}

interface Rating {
  lines: { description: string; model: string; tokens: bigint; amountMicros: bigint }[];
  usageMicros: bigint;
  subtotalMicros: bigint;
  discountMicros: bigint;
  /** The snapshot the usage was read in, recorded on the statement (statement-usage.ts). */
  usageSnapshot: string;
}

type Outcome =
  | { kind: 'issued'; statement: IssuedStatement; afterCommit: AfterCommit | null }
  /** not_invoice: not on invoice billing now, or only since after the month ended. */
  | { kind: 'already' | 'no_usage' | 'not_invoice' };

/**
 * Monthly usage statements of invoice-billing accounts. For one account and month:
 *
 * - Usage charged while the account was prepaid, i.e. before its current run of invoice billing
 *   began (accounts.invoice_billing_since), was paid from credits: it is on no statement, and a
 *   month that ended before that start gets none (statement-usage.ts).
 * - Lines: one per model, from usage_events whose occurred_at falls in the month (UTC), then one
 *   per earlier month and model for late usage: events committed after that month's statement
 *   read its usage, or back-dated events charged after the switch (statement-usage.ts). Each
 *   line's amount is the exact sum of its events' costs (what the ledger charged for them),
 *   rounded half up to a whole cent, since an invoice is paid in cents.
 * - Volume discount: the account's graduated tiers applied to the subtotal, rounded once, half up,
 *   to the cent (billing-terms/volume-discount.ts), shown as the invoice's discount.
 * - Tax: A1's TaxQuoteService on subtotal - discount (the account's billing address and
 *   exemption); zero when the app has no tax module.
 * - Ledger: the month's usage already took the exact amount from the balance. The rating books
 *   one adjustment of (exact usage - (subtotal - discount)): the discount plus the sub-cent
 *   rounding. After it, the ledger's usage for the month plus this adjustment equals the
 *   invoice's pre-tax total to the micro, and paying the invoice restores the balance exactly.
 *
 * Exactly once: runs for the same account, of any month, are serialised by an advisory lock and
 * see the statements committed before them (this month's, or a later one that took its usage); the
 * adjustment's ledger key and the unique index invoices_statement_period_key back that up. The invoice (and its number) is inserted in the
 * adjustment's transaction, so a crash leaves both or neither.
 */
@Injectable()
export class IssueUsageStatementsService {
  private readonly logger = new Logger(IssueUsageStatementsService.name);

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly ledger: LedgerChangeService,
    private readonly issuer: InvoiceIssuer,
    @Optional() private readonly tax?: TaxQuoteService,
    @Optional() @Inject(USAGE_STATEMENT_LISTENER) private readonly listener?: UsageStatementListener,
    @Optional() @Inject(FAILPOINT) private readonly failpoint?: FailpointName,
  ) {}

  /**
   * The scheduled job: issues every missing statement of the previous month. It runs often (hourly
   * by default), so a run missed on the 1st is caught up by the next one.
   */
  async issueDue(now = new Date()): Promise<StatementRun | null> {
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    if (now.getTime() - monthStart < STATEMENT_GRACE_MS) return null;
    return this.issueForMonth(previousMonth(now));
  }

  /** Issues the month's missing statements (of one account when given). Failures are reported, not thrown. */
  async issueForMonth(period: StatementPeriod, onlyAccountId?: string): Promise<StatementRun> {
    const { sql } = this.database;
    const accounts = await sql<{ id: string }[]>`
      select a.id from accounts a
      where a.billing_mode = 'invoice' and a.invoice_billing_since < ${period.end}
        and (${onlyAccountId ?? null}::uuid is null or a.id = ${onlyAccountId ?? null}::uuid)
        and not exists (select 1 from invoices i where i.account_id = a.id and i.kind = 'usage_statement'
                        and i.period_start = ${period.firstDay}::date)
      order by a.id`;
    const [{ existing }] = await sql<{ existing: number }[]>`
      select count(*)::int as existing from invoices
      where kind = 'usage_statement' and period_start = ${period.firstDay}::date
        and (${onlyAccountId ?? null}::uuid is null or account_id = ${onlyAccountId ?? null}::uuid)`;
    const run: StatementRun = {
      month: period.month,
      issued: [],
      alreadyIssued: existing,
      withoutUsage: 0,
      failed: [],
    };
    const committed: { statement: IssuedStatement; afterCommit: AfterCommit | null }[] = [];
    for (const { id } of accounts) {
      try {
        const outcome = await this.issueOne(id, period);
        if (outcome.kind === 'issued') {
          run.issued.push(outcome.statement);
          committed.push(outcome);
          crashAt(this.failpoint, 'after-statement-commit');
        } else if (outcome.kind === 'already') run.alreadyIssued++;
        else if (outcome.kind === 'no_usage') run.withoutUsage++;
      } catch (error) {
        this.logger.error(`usage statement ${period.month} of account ${id} failed: ${String(error)}`);
        run.failed.push({ accountId: id, error: error instanceof Error ? error.message : String(error) });
      }
    }
    for (const { statement, afterCommit } of committed) await this.afterCommit(statement, afterCommit);
    return run;
  }

  private async issueOne(accountId: string, period: StatementPeriod): Promise<Outcome> {
    // This transaction only holds the lock (and the account row against a switch back to
    // prepaid) while the ledger change commits on its own connection.
    return this.database.sql.begin(async (lock) => {
      await lock`select pg_advisory_xact_lock(hashtextextended(${statementLockKey(accountId)}, 0))`;
      const [account] = await lock<
        { billing_mode: string; payment_terms_days: number | null; since: InvoiceBillingSince | null }[]
      >`
        select billing_mode, payment_terms_days, invoice_billing_since::text as since from accounts
        where id = ${accountId} and invoice_billing_since < ${period.end} for share`;
      // A month that ended before invoice billing began was paid from credits (prepaid).
      if (
        !account ||
        account.billing_mode !== 'invoice' ||
        account.payment_terms_days === null ||
        !account.since
      ) {
        return { kind: 'not_invoice' };
      }
      if (await this.findStatement(lock, accountId, period)) return { kind: 'already' };
      // A later month's statement already took this month's usage (each event is on the first
      // statement whose snapshot saw it): a statement now would invoice it twice.
      if (await this.laterStatementExists(lock, accountId, period)) return { kind: 'already' };
      const rating = await this.rate(lock, accountId, period, account.since);
      if (!rating) return { kind: 'no_usage' };
      const terms = account.payment_terms_days;
      // Set only when the invoice is inserted, i.e. this run rated the month.
      const result: { invoice?: IssuedInvoice; totalMicros?: bigint; afterCommit?: AfterCommit | null } = {};
      const netMicros = rating.subtotalMicros - rating.discountMicros;
      const applied = await this.ledger.apply({
        accountId,
        kind: 'adjustment',
        amountMicros: rating.usageMicros - netMicros,
        ledgerKey: statementLedgerKey(accountId, period.month),
        source: {
          reason: 'usage_statement',
          month: period.month,
          usage_micros: rating.usageMicros.toString(),
          subtotal_micros: rating.subtotalMicros.toString(),
          discount_micros: rating.discountMicros.toString(),
        },
        alsoInTransaction: async (tx) => {
          const draft = await this.draft(tx, accountId, period, rating, terms);
          result.totalMicros = netMicros + draft.tax.amountMicros;
          const invoice = await this.issuer.issue(tx, draft);
          result.invoice = invoice;
          const statement = {
            accountId,
            invoiceId: invoice.id,
            number: invoice.number,
            totalMicros: result.totalMicros,
          };
          // A settled statement (nothing to pay) is mailed as ready with its PDF, never as due.
          result.afterCommit =
            draft.status === 'open' ? ((await this.listener?.statementIssued(tx, statement)) ?? null) : null;
        },
      });
      if (applied.replayed || !result.invoice) return { kind: 'already' };
      const { invoice, totalMicros = 0n, afterCommit = null } = result;
      return {
        kind: 'issued',
        statement: { accountId, invoiceId: invoice.id, number: invoice.number, totalMicros },
        afterCommit,
      };
    });
  }

  /**
   * The usage the statement covers per month and model (its month first, then late usage of
   * earlier months), priced into whole-cent lines, with the volume discount. Null without usage.
   */
  private async rate(
    tx: Tx,
    accountId: string,
    period: StatementPeriod,
    since: InvoiceBillingSince,
  ): Promise<Rating | null> {
    const usage = await readStatementUsage(
      tx,
      accountId,
      period,
      await previousStatement(tx, accountId, period),
      since,
    );
    const usageMicros = usage.rows.reduce((sum, row) => sum + row.costMicros, 0n);
    if (usageMicros === 0n || usage.snapshot === null) return null;
    const tiers = await tx<{ from_micros: bigint; discount_ppm: number }[]>`
      select from_micros, discount_ppm from volume_discount_tiers where account_id = ${accountId}`;
    const ownMonth = usage.rows.filter((row) => row.month === period.month);
    const late = usage.rows.filter((row) => row.month !== period.month);
    const lines = [...ownMonth, ...late].map((row) => {
      const month = statementPeriod(row.month)!;
      return {
        description:
          row.month === period.month
            ? `${row.model}: usage ${period.firstDay} to ${period.lastDay}`
            : `${row.model}: usage ${month.firstDay} to ${month.lastDay} not on an earlier statement`,
        model: row.model,
        tokens: row.tokens,
        amountMicros: roundToCents(row.costMicros),
      };
    });
    const subtotalMicros = lines.reduce((sum, line) => sum + line.amountMicros, 0n);
    const discountMicros = graduatedDiscountMicros(
      subtotalMicros,
      tiers.map((tier) => ({ fromMicros: tier.from_micros, discountPpm: tier.discount_ppm })),
    );
    return { lines, usageMicros, subtotalMicros, discountMicros, usageSnapshot: usage.snapshot };
  }

  private async draft(
    tx: Tx,
    accountId: string,
    period: StatementPeriod,
    rating: Rating,
    termsDays: number,
  ): Promise<InvoiceDraft> {
    const taxable = rating.subtotalMicros - rating.discountMicros;
    const tax = this.tax
      ? this.tax.taxOn(taxable, await this.tax.treatmentFor(accountId, tx))
      : { jurisdiction: null, ratePpm: 0, exempt: false, taxMicros: 0n };
    const issuedOn = new Date();
    // Lines are whole cents: a month of under half a cent of usage, or a 100 % discount, totals
    // $0.00. Nothing is owed, so the statement is issued paid, with no due date: it is never
    // reminded of or marked overdue, and its ledger adjustment already settled the month's usage.
    const settled = taxable + tax.taxMicros === 0n;
    return {
      accountId,
      kind: 'usage_statement',
      status: settled ? 'paid' : 'open',
      settledAtIssue: settled,
      transactionAt: new Date(period.end.getTime() - 1),
      dueDate: settled ? null : addDays(issuedOn, termsDays),
      periodStart: period.firstDay,
      periodEnd: period.lastDay,
      usageSnapshot: rating.usageSnapshot,
      lines: rating.lines.map((line) => ({
        description: line.description,
        model: line.model,
        quantity: line.tokens,
        amountMicros: line.amountMicros,
      })),
      discountMicros: rating.discountMicros,
      tax: {
        jurisdiction: tax.jurisdiction,
        ratePpm: tax.ratePpm,
        exempt: tax.exempt,
        amountMicros: tax.taxMicros,
      },
      card: null,
    };
  }

  private async laterStatementExists(tx: Tx, accountId: string, period: StatementPeriod): Promise<boolean> {
    const [row] = await tx`
      select 1 from invoices
      where account_id = ${accountId} and kind = 'usage_statement' and period_start > ${period.firstDay}::date
      limit 1`;
    return Boolean(row);
  }

  private async findStatement(tx: Tx, accountId: string, period: StatementPeriod): Promise<boolean> {
    const [row] = await tx`
      select 1 from invoices
      where account_id = ${accountId} and kind = 'usage_statement' and period_start = ${period.firstDay}::date`;
    return Boolean(row);
  }

  /**
   * After commit: metrics and the PDF render (the issuer's; by invoice id, so a repeat is dropped;
   * an enqueue lost to a crash or to Redis is the render sweep's), then the email of the alert the
   * listener raised in the statement's transaction (a crash before it is caught by the email
   * sweep). Neither throws: the statement has committed, and the run goes on to the next one's.
   */
  private async afterCommit(statement: IssuedStatement, listened: AfterCommit | null): Promise<void> {
    await this.issuer.afterCommit([
      { id: statement.invoiceId, number: statement.number, kind: 'usage_statement' },
    ]);
    await listened?.().catch((error: unknown) =>
      this.logger.warn(`statement ${statement.number}: listener failed after commit: ${String(error)}`),
    );
  }
}

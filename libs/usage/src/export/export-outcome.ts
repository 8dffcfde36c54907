import { BillingMetrics } from '@app/metrics';
import { Readable } from 'node:stream';
import { CsvExportSlots } from './csv-export-slots';

/** How an export ended: delivered whole, failed on our side, or abandoned by the client. */
export type ExportOutcome = 'completed' | 'failed' | 'aborted';

/** Calls `report` once, when the stream is fully read, fails, or is closed before its end. */
export function onExportOutcome(stream: Readable, report: (outcome: ExportOutcome) => void): void {
  let reported = false;
  const once = (outcome: ExportOutcome) => {
    if (reported) return;
    reported = true;
    report(outcome);
  };
  stream.once('end', () => once('completed'));
  stream.once('error', () => once('failed'));
  stream.once('close', () => once(stream.readableEnded ? 'completed' : 'aborted'));
}

/**
 * Opens a CSV export stream in one of the process's export slots (released when the stream
 * closes) and counts how it ends in billing_exports_total{kind,outcome}, with its duration (until
 * the client has it all, or left) in billing_export_duration_seconds.
 */
export async function openCountedExport(
  metrics: BillingMetrics,
  slots: CsvExportSlots,
  kind: 'usage_csv' | 'invoices_csv',
  open: () => Promise<Readable>,
): Promise<Readable> {
  const release = slots.take();
  const end = metrics.exportDuration.startTimer({ kind });
  let stream: Readable;
  try {
    stream = await open();
  } catch (error) {
    release();
    metrics.exports.inc({ kind, outcome: 'failed' });
    throw error;
  }
  stream.once('close', release);
  onExportOutcome(stream, (outcome) => {
    metrics.exports.inc({ kind, outcome });
    end();
  });
  return stream;
}

import { stringify } from 'csv-stringify';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** One CSV column: its header and how a row gives its value (null and undefined print as empty fields). */
export interface CsvColumn<Row> {
  header: string;
  value: (row: Row) => string | number | boolean | null | undefined;
  /** Text a client chose (an event id, a PO number): guarded against spreadsheet formulas. */
  clientText?: true;
}

/**
 * A spreadsheet runs a cell that starts with = + - @ (or tab, CR before one) as a formula: such
 * client-chosen text gets a leading apostrophe, as OWASP advises for CSV injection. Only those
 * columns: amounts, dates and ids of ours stay exactly as stored.
 */
export function formulaSafe<T>(value: T): T | string {
  return typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

/**
 * RFC 4180 settings: CRLF between records, a field quoted when it holds a comma, a quote, CR or
 * LF, quotes inside doubled. Every record has every column, so a parser can rely on the header.
 */
const RFC4180 = {
  delimiter: ',',
  quote: '"',
  escape: '"',
  record_delimiter: 'windows',
  eof: true,
  cast: { boolean: (value: boolean) => (value ? 'true' : 'false') },
} as const;

/** How long a download may sit with the client not reading before it is cut (it holds a Postgres connection). */
export const EXPORT_STALL_TIMEOUT_MS = 60_000;

export class ExportStalledError extends Error {
  constructor(ms: number) {
    super(`the client read nothing for ${ms} ms; export cut`);
  }
}

/**
 * A CSV document of rows read in batches (a Postgres cursor), as a byte stream pulled only as
 * fast as the HTTP client reads: a batch is fetched when the previous one has been written, so
 * memory holds one batch whatever the export's size.
 *
 * The first batch is awaited here, before anything is sent, so a query that fails at once is
 * answered with a JSON error; a failure later cuts the response short (the client sees an
 * incomplete transfer, never a CSV that only looks complete). Destroying the stream (the client
 * went away) stops the cursor: the generator's `finally` closes it before the next fetch. A
 * client that stays connected but stops reading would hold the cursor (and its Postgres
 * connection, which stays "active") for ever, so after `stallTimeoutMs` without reading the
 * download is cut the same way.
 */
export async function openCsvStream<Row>(
  columns: readonly CsvColumn<Row>[],
  batches: AsyncIterable<Row[]>,
  stallTimeoutMs = EXPORT_STALL_TIMEOUT_MS,
): Promise<Readable> {
  const iterator = batches[Symbol.asyncIterator]();
  const first = await iterator.next();
  // When the record now offered to the reader was offered (null while a batch is being fetched);
  // it stays old only while the reader takes nothing. Set from the start: a stream nobody ever
  // reads must not hold its cursor either.
  let waitingSince: number | null = Date.now();

  async function* records(): AsyncGenerator<(string | number | boolean | null | undefined)[]> {
    try {
      waitingSince = Date.now();
      yield columns.map((column) => column.header);
      let current = first;
      while (!current.done) {
        for (const row of current.value) {
          waitingSince = Date.now();
          yield columns.map((column) =>
            column.clientText ? formulaSafe(column.value(row)) : column.value(row),
          );
        }
        waitingSince = null;
        current = await iterator.next();
      }
    } finally {
      waitingSince = null;
      await iterator.return?.();
    }
  }

  const source = Readable.from(records(), { objectMode: true, highWaterMark: 256 });
  const csv = stringify(RFC4180);
  // pipeline destroys the source when the CSV side closes early, and the CSV side when the source fails.
  pipeline(source, csv).catch((error: Error) => csv.destroy(error));
  const watchdog = setInterval(
    () => {
      if (waitingSince !== null && Date.now() - waitingSince > stallTimeoutMs) {
        csv.destroy(new ExportStalledError(stallTimeoutMs));
      }
    },
    Math.max(10, Math.min(5_000, stallTimeoutMs / 4)),
  ).unref();
  csv.once('close', () => clearInterval(watchdog));
  return csv;
}

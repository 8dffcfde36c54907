/** INV-<year>-<sequence, at least six digits>: sorts by number within a year. */
export function formatInvoiceNumber(year: number, sequence: number): string {
  return `INV-${year}-${String(sequence).padStart(6, '0')}`;
}

/** Micros of one cent: every amount on an invoice is a whole number of them. */
export const CENT_MICROS = 10_000n;

export function isWholeCents(micros: bigint): boolean {
  return micros % CENT_MICROS === 0n;
}

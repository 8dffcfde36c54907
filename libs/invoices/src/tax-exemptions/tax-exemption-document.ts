export const TAX_EXEMPTION_OPTIONS = Symbol('TAX_EXEMPTION_OPTIONS');

export interface TaxExemptionOptions {
  /** Largest document accepted (TAX_EXEMPTION_MAX_BYTES). */
  maxBytes: number;
}

export type DocumentType =
  | { contentType: 'application/pdf'; extension: 'pdf' }
  | { contentType: 'image/png'; extension: 'png' }
  | { contentType: 'image/jpeg'; extension: 'jpg' };

/**
 * What the bytes are, from their signature rather than the client's Content-Type or file name:
 * only PDF, PNG and JPEG certificates are kept, and the stored content type is the one found here.
 */
export function sniffDocumentType(bytes: Buffer): DocumentType | null {
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-')
    return { contentType: 'application/pdf', extension: 'pdf' };
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return { contentType: 'image/png', extension: 'png' };
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff)
    return { contentType: 'image/jpeg', extension: 'jpg' };
  return null;
}

/** The client's file name as a label only (never part of the S3 key): its last path part, printable, at most 200 characters. */
export function cleanFileName(name: string | undefined, extension: string): string {
  const base = (name ?? '').split(/[\\/]/).pop() ?? '';
  const printable = base
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim()
    .slice(0, 200);
  return printable || `exemption-certificate.${extension}`;
}

/**
 * The S3 key of a certificate: fixed by the account and the document's SHA-256 before the upload,
 * so a retried upload writes the same object again instead of a second one (I5).
 */
export function taxExemptionObjectKey(accountId: string, sha256: string, extension: string): string {
  return `tax-exemptions/${accountId}/${sha256}.${extension}`;
}

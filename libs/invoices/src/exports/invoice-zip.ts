import archiver from 'archiver';
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';

/** One file of a zip: opened only when the zip is ready for it, so one source is open at a time. */
export interface ZipSource {
  name: string;
  /** The entry's modification time: a fixed business date, never "now", so the bytes are reproducible. */
  date: Date;
  open: () => Promise<Readable>;
  /** Hex SHA-256 the bytes must have (recorded when the file was stored); the zip fails otherwise. */
  sha256?: string | null;
}

export class ZipSourceMismatchError extends Error {
  constructor(name: string) {
    super(`${name} does not match its recorded SHA-256`);
  }
}

/**
 * A zip of `sources`, in order, as a stream. Entries are added one at a time, each after the
 * previous one is written, so however many files a zip holds only one source stream is open and
 * memory stays flat (the output is pulled at the consumer's pace). The same sources give the same
 * bytes (fixed dates, fixed order, deterministic deflate), so a rebuilt export is identical.
 */
export function zipStream(sources: readonly ZipSource[]): Readable {
  // Fixed times are written as UTC (not the host's local time), so the bytes do not depend on TZ.
  const archive = archiver('zip', { zlib: { level: 6 }, forceLocalTime: false });
  void addAll(archive, sources).catch((error: Error) => archive.destroy(error));
  return archive;
}

async function addAll(archive: archiver.Archiver, sources: readonly ZipSource[]): Promise<void> {
  for (const source of sources) {
    const hash = createHash('sha256');
    const body = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    const raw = await source.open();
    // pipe() does not forward errors: a download cut off midway must fail the zip, not end an entry short.
    raw.once('error', (error) => body.destroy(error));
    raw.pipe(body);
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        archive.off('entry', onEntry);
        archive.off('error', settle);
        if (error) reject(error);
        else resolve();
      };
      const onEntry = () => settle();
      archive.once('entry', onEntry);
      archive.once('error', settle);
      // archiver never finishes an entry whose source failed (it waits for an 'end' that never
      // comes), so the source's own error is what fails the zip. The listener stays: a late error
      // must not go unhandled and crash the worker.
      body.on('error', settle);
      archive.append(body, { name: source.name, date: source.date });
    });
    if (source.sha256 && hash.digest('hex') !== source.sha256) throw new ZipSourceMismatchError(source.name);
  }
  await archive.finalize();
}

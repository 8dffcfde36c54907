import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';
import { zipStream, ZipSource } from './invoice-zip';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function unzip(zip: Buffer): Promise<Map<string, { bytes: Buffer; date: Date }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (error, file) => {
      if (error || !file) return reject(error);
      const entries = new Map<string, { bytes: Buffer; date: Date }>();
      file.on('entry', (entry: yauzl.Entry) => {
        file.openReadStream(entry, (openError, stream) => {
          if (openError || !stream) return reject(openError);
          void collect(stream).then((bytes) => {
            entries.set(entry.fileName, { bytes, date: entry.getLastModDate({ timezone: 'UTC' }) });
            file.readEntry();
          }, reject);
        });
      });
      file.on('end', () => resolve(entries));
      file.on('error', reject);
      file.readEntry();
    });
  });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('zipStream', () => {
  const files = [
    {
      name: 'INV-2026-000001.pdf',
      bytes: Buffer.from('%PDF-1.3 first'),
      date: new Date('2026-03-01T10:00:00Z'),
    },
    { name: 'INV-2026-000002.pdf', bytes: Buffer.alloc(300_000, 7), date: new Date('2026-03-02T11:30:00Z') },
  ];
  const sources = (opened: string[] = []): ZipSource[] =>
    files.map((file) => ({
      name: file.name,
      date: file.date,
      sha256: sha256(file.bytes),
      open: async () => {
        opened.push(file.name);
        return Readable.from([file.bytes]);
      },
    }));

  it('holds every source byte for byte, with its fixed date', async () => {
    const sut = zipStream(sources());
    const entries = await unzip(await collect(sut));
    expect([...entries.keys()]).toEqual(files.map((file) => file.name));
    for (const file of files) {
      expect(entries.get(file.name)!.bytes.equals(file.bytes)).toBe(true);
      expect(entries.get(file.name)!.date.toISOString()).toBe(file.date.toISOString());
    }
  });

  it('gives the same bytes when built again', async () => {
    const first = await collect(zipStream(sources()));
    const second = await collect(zipStream(sources()));
    expect(sha256(second)).toBe(sha256(first));
  });

  it('opens the sources one after another, in order', async () => {
    const opened: string[] = [];
    await collect(zipStream(sources(opened)));
    expect(opened).toEqual(files.map((file) => file.name));
  });

  it('is a valid empty zip without sources', async () => {
    const entries = await unzip(await collect(zipStream([])));
    expect(entries.size).toBe(0);
  });

  it('fails when a source does not match its recorded hash', async () => {
    const tampered = sources();
    tampered[1] = { ...tampered[1], open: async () => Readable.from([Buffer.from('not the pdf')]) };
    await expect(collect(zipStream(tampered))).rejects.toThrow(/does not match its recorded SHA-256/);
  });

  it('fails when a source breaks off midway', async () => {
    const broken = sources();
    broken[0] = {
      ...broken[0],
      open: async () =>
        new Readable({
          read() {
            this.push(Buffer.from('partial'));
            this.destroy(new Error('connection reset'));
          },
        }),
    };
    await expect(collect(zipStream(broken))).rejects.toThrow(/connection reset/);
  });
});

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3TestServer } from '../support/s3-server';
import { waitFor } from '../support/wait-for';

describe('ObjectStorage against a local S3 (s3rver)', () => {
  const server = new S3TestServer();

  beforeAll(() => server.start());
  afterAll(() => server.stop());

  it('stores a buffer and reports its SHA-256 and size, also through head', async () => {
    const body = Buffer.from('%PDF-1.3 hello');
    const stored = await server.storage.put('t/buffer.pdf', body, 'application/pdf');
    expect(stored).toEqual({ sha256: createHash('sha256').update(body).digest('hex'), size: body.length });
    expect(await server.storage.head('t/buffer.pdf')).toEqual({ ...stored, contentType: 'application/pdf' });
    expect(await server.storage.getBuffer('t/buffer.pdf')).toEqual(body);
  });

  it('stores a stream byte for byte', async () => {
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16_384, i));
    const whole = Buffer.concat(chunks);
    const stored = await server.storage.put(
      't/stream.bin',
      Readable.from(chunks),
      'application/octet-stream',
    );
    expect(stored.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    expect((await server.storage.getBuffer('t/stream.bin')).equals(whole)).toBe(true);
  });

  it('answers null for a missing key and putIfAbsent keeps the first object', async () => {
    expect(await server.storage.head('t/missing')).toBeNull();
    const first = await server.storage.putIfAbsent('t/once', Buffer.from('one'), 'text/plain');
    const second = await server.storage.putIfAbsent('t/once', Buffer.from('two'), 'text/plain');
    expect(first.created).toBe(true);
    expect(second).toEqual({ sha256: first.sha256, size: 3, created: false });
    expect((await server.storage.getBuffer('t/once')).toString()).toBe('one');
  });

  it('hands out a presigned link that downloads the object under its file name and then expires', async () => {
    await server.storage.put('t/link.txt', Buffer.from('linked'), 'text/plain');
    const { url, expiresAt } = await server.storage.presignedGetUrl('t/link.txt', 1, 'INV-1.txt');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="INV-1.txt"');
    expect(await response.text()).toBe('linked');
    expect(expiresAt.getTime()).toBeGreaterThan(Date.now() - 2000);
    await waitFor(
      async () => (await fetch(url)).status,
      (status) => status === 403,
      {
        timeoutMs: 10_000,
        intervalMs: 250,
        what: 'the link to expire',
      },
    );
  });

  it('deletes, and deleting again is not an error', async () => {
    await server.storage.put('t/gone', Buffer.from('x'), 'text/plain');
    await server.storage.delete('t/gone');
    await server.storage.delete('t/gone');
    expect(await server.storage.head('t/gone')).toBeNull();
  });
});

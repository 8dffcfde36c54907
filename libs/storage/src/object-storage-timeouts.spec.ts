import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { ObjectStorage } from './object-storage.service';
import { createS3Client, StorageOptions } from './storage-options';

/**
 * A store that accepts the connection and then never answers (a hung proxy, a stalled MinIO):
 * the request fails after the idle timeout, so the job doing it retries instead of hanging.
 */
describe('ObjectStorage against a store that stops answering', () => {
  let server: Server;
  const sockets: Socket[] = [];
  let options: StorageOptions;

  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.push(socket);
      socket.resume(); // read the request, answer nothing
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    options = {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region: 'us-east-1',
      bucket: 'billing',
      accessKeyId: 'test',
      secretAccessKey: 'test',
      forcePathStyle: true,
      connectTimeoutMs: 5_000,
      requestTimeoutMs: 300,
    };
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('fails an upload and a lookup instead of waiting forever', async () => {
    const client = createS3Client({ ...options });
    // The SDK retries a timed-out request (3 attempts by default); without the limit, this hangs.
    const storage = new ObjectStorage(client, options);
    await expect(storage.put('invoices/x.pdf', Buffer.from('%PDF-1.7'), 'application/pdf')).rejects.toThrow(
      /timeout|socket|ECONNRESET/i,
    );
    await expect(storage.head('invoices/x.pdf')).rejects.toThrow(/timeout|socket|ECONNRESET/i);
    expect(sockets.length).toBeGreaterThan(0);
    client.destroy();
  }, 30_000);
});

import { assertDistinctPorts, backgroundWorkerPort } from './app-ports';

describe('npm start ports', () => {
  it('puts the background worker on the port after the usage worker', () => {
    expect(backgroundWorkerPort(3002)).toBe(3003);
  });

  it('gives the background worker any free port when the usage worker has one', () => {
    expect(backgroundWorkerPort(0)).toBe(0);
  });

  it('refuses the last port, naming the setting', () => {
    expect(() => backgroundWorkerPort(65_535)).toThrow(
      'WORKER_METRICS_PORT=65535 leaves no port for the background worker',
    );
  });

  it('refuses two apps on one port, naming both', () => {
    const ports = { ingest: 3000, api: 3001, 'usage-worker': 2999, 'background-worker': 3000 };
    expect(() => assertDistinctPorts(ports)).toThrow(
      'two apps would listen on one port: ingest and background-worker on 3000',
    );
  });

  it('takes distinct ports, and any number of apps on any free port', () => {
    expect(() => assertDistinctPorts({ ingest: 3000, api: 3001, worker: 0, background: 0 })).not.toThrow();
  });
});

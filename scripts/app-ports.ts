/** The largest TCP port. */
const MAX_PORT = 65_535;

/**
 * The background worker's /metrics port under `npm start`: the one after the usage worker's
 * (`WORKER_METRICS_PORT` + 1, README's Configuration), or any free port when that is 0. Refused
 * with a message before anything starts where there is no next port: the worker would otherwise
 * fail its config check and be restarted forever.
 */
export function backgroundWorkerPort(usageWorkerPort: number): number {
  if (usageWorkerPort === 0) return 0;
  if (usageWorkerPort >= MAX_PORT) {
    throw new Error(
      `WORKER_METRICS_PORT=${usageWorkerPort} leaves no port for the background worker, which npm start runs on WORKER_METRICS_PORT + 1`,
    );
  }
  return usageWorkerPort + 1;
}

/**
 * Refuses two apps of the group on one port (0, any free port, never clashes): the second would
 * fail to listen (EADDRINUSE) and be restarted forever.
 */
export function assertDistinctPorts(ports: Record<string, number>): void {
  const byPort = new Map<number, string[]>();
  for (const [app, port] of Object.entries(ports)) {
    if (port !== 0) byPort.set(port, [...(byPort.get(port) ?? []), app]);
  }
  const clashes = [...byPort].filter(([, apps]) => apps.length > 1);
  if (clashes.length > 0) {
    const described = clashes.map(([port, apps]) => `${apps.join(' and ')} on ${port}`).join('; ');
    throw new Error(`two apps would listen on one port: ${described}`);
  }
}

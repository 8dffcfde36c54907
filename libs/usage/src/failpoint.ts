/**
 * Crash points for tests of I2: a worker started with FAILPOINT=<name> kills itself with SIGKILL
 * when it reaches that point, as a power cut would. Production config refuses FAILPOINT.
 */
export type FailpointName = 'after-deduct' | 'after-commit';

export const FAILPOINT = Symbol('FAILPOINT');

export function crashAt(configured: FailpointName | undefined, point: FailpointName): void {
  if (configured === point) process.kill(process.pid, 'SIGKILL');
}

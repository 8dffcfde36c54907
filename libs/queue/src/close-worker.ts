import { Worker } from 'bullmq';

/**
 * Closes a BullMQ worker gracefully (it waits for the jobs in hand), also when Redis has just been
 * away, and at once when it never reached Redis.
 *
 * To interrupt its blocking read, Worker.close() disconnects the worker's blocking connection and
 * waits for that ioredis client's 'end' event. A client that lost Redis sits in 'reconnecting'
 * between two attempts: no socket, only a retry timer (up to a second: reconnectDelayMs in
 * @app/redis). disconnect() then only clears the timer: nothing is left to close, so
 * 'end' never comes, the client stays 'reconnecting' for good, and close() never returns. That
 * was the usage worker's SIGTERM hang during a Redis outage and just after one.
 *
 * Making such a client attempt its connection now gives it one in progress, which the disconnect
 * that follows does end, Redis up or not. The close reaches that disconnect without waiting for
 * any I/O, so the attempt cannot fail first and start another wait.
 */
export async function closeWorker(worker: Worker): Promise<void> {
  if (!(await connectedClient(worker.backend.client))) {
    // Its main connection never came up (Redis away since the worker started): BullMQ takes a job
    // and sends everything else on it only once set up, so the worker holds nothing to finish or
    // hand back. The graceful close would wait for Redis all the same (for the blocking connection's
    // setup, to disconnect it); the forced one only disconnects, which is all there is to do.
    return worker.close(true);
  }
  const blocking = await connectedClient(worker.backend.blockingClient);
  if (blocking?.status === 'reconnecting') {
    // The disconnect ends this attempt: its rejection ("Connection is closed") is the expected outcome.
    blocking.connect().catch(() => undefined);
  }
  return worker.close();
}

/**
 * The client once its connection has been set up; otherwise (Redis was away since the start, or
 * setting it up failed) undefined at once, so that closing never waits for Redis here.
 */
async function connectedClient<T>(client: Promise<T> | undefined): Promise<T | undefined> {
  if (!client) return undefined;
  // Settled already: it wins the race, its reaction being queued before the other's.
  return Promise.race([client, Promise.resolve(undefined)]).catch(() => undefined);
}

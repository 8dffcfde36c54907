import postgres from 'postgres';

/**
 * Node's socket errors. Any client's (Redis, S3, SMTP) can carry them, so only one that postgres.js
 * handed to a query counts as Postgres's: it then holds the query's own `query` property; or one
 * it rejected a `reserve()` of our pools with, which they mark (markingReserveFailures).
 */
const SOCKET_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * The mark on an error postgres.js rejected `reserve()` with: it hands a reserve its connection's
 * error bare, without the `query` a query's gets (queryError in its connection.js), so a refused
 * connection there reads as any other client's. A registered symbol, not a WeakSet, so a second
 * copy of this module (another bundle, Jest's module registry) still reads the mark.
 */
const RESERVE_FAILURE = Symbol.for('billing.db.postgres-reserve-failure');

/** postgres.js's own codes for a connection it could not open, lost, or whose pool is ending. */
const CONNECTION_FAILURES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/** cannot_connect_now: "the database system is starting up" (or shutting down, or in recovery). */
const CANNOT_CONNECT_NOW = '57P03';

/**
 * SQLSTATEs after which the same request, sent again shortly, may well succeed: the statement
 * lost a race (deadlock, serialization), waited too long for a lock or a slot, or Postgres (or a
 * connection it made for us) went away under it. Each failed before its transaction committed.
 * Named as Postgres names them.
 *
 * Not class 08's other two: protocol_violation (08P01) is our bytes Postgres could not parse (a
 * NUL in a statement's text, a driver bug), which a retry sends again; transaction_resolution_unknown
 * (08007) says a commit may have happened, so a retry could apply the request twice.
 */
const TRANSIENT_SQLSTATES: Readonly<Record<string, string>> = {
  '08000': 'connection_exception',
  '08001': 'sqlclient_unable_to_establish_sqlconnection',
  '08003': 'connection_does_not_exist',
  '08004': 'sqlserver_rejected_establishment_of_sqlconnection',
  '08006': 'connection_failure',
  // Postgres ended the session of a transaction left idle past the timeout: its client stalled
  // (an event-loop pause, a slow call); the retry runs on a fresh connection.
  '25P03': 'idle_in_transaction_session_timeout',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '53300': 'too_many_connections',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  [CANNOT_CONNECT_NOW]: 'cannot_connect_now',
};

/**
 * Whether a connection attempt's error `code` means Postgres is not (yet) reachable or not yet
 * accepting connections, rather than refusing us (a wrong password, a missing role).
 */
export function isPostgresNotUp(code: string): boolean {
  return SOCKET_FAILURES.has(code) || CONNECTION_FAILURES.has(code) || code === CANNOT_CONNECT_NOW;
}

/** A transient Postgres failure found in an error (or in its `cause` chain, as drizzle wraps it). */
export interface TransientPostgresFailure {
  /** SQLSTATE, or the connection error's code (ECONNREFUSED, CONNECTION_CLOSED, …). */
  code: string;
  /** What the code means, for a log line: `deadlock_detected`, `connection_failure`. */
  condition: string;
  /** The postgres.js error itself: its message and stack name neither parameters nor the URL. */
  error: Error;
}

/**
 * The transient Postgres failure behind `error`, if that is what it is: a transient SQLSTATE
 * (TRANSIENT_SQLSTATES) or a lost or refused connection. Anything else (a constraint violation,
 * a bug, another service's socket error) is not.
 */
export function transientPostgresFailure(error: unknown): TransientPostgresFailure | null {
  // drizzle wraps the driver's error in DrizzleQueryError (`cause`); a few levels are plenty.
  // Not `instanceof Error`: Node's socket errors come from another realm under Jest's sandbox.
  for (let depth = 0; depth < 5 && isObject(error); depth++, error = error.cause) {
    const { code } = error;
    if (typeof code !== 'string') continue;
    if (error instanceof postgres.PostgresError && TRANSIENT_SQLSTATES[code]) {
      return { code, condition: TRANSIENT_SQLSTATES[code], error };
    }
    const postgresHandedIt = Object.hasOwn(error, 'query') || Object.hasOwn(error, RESERVE_FAILURE);
    if (CONNECTION_FAILURES.has(code) || (SOCKET_FAILURES.has(code) && postgresHandedIt)) {
      return { code, condition: 'connection_failure', error: error as Error };
    }
  }
  return null;
}

/**
 * `reserve` (a postgres.js client's) whose rejections count as Postgres's, as a query's do: a
 * reserve that has to open a connection to a Postgres gone away is then a 503, not a 500.
 */
export function markingReserveFailures<Reserved>(reserve: () => Promise<Reserved>): () => Promise<Reserved> {
  return async () => {
    try {
      return await reserve();
    } catch (error) {
      if (isObject(error) && Object.isExtensible(error))
        Object.defineProperty(error, RESERVE_FAILURE, { value: true });
      throw error;
    }
  };
}

function isObject(value: unknown): value is { code?: unknown; cause?: unknown } {
  return typeof value === 'object' && value !== null;
}

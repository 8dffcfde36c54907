import { drizzle, PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { markingReserveFailures } from './postgres-failures';
import * as schema from './schema';

export type Database = PostgresJsDatabase<typeof schema>;
export type Sql = postgres.Sql<{ bigint: bigint }>;
/** A transaction of Sql (inside sql.begin). */
export type Tx = postgres.TransactionSql<{ bigint: bigint }>;

export interface DatabaseHandle {
  /** The raw postgres.js client, for set-based statements (unnest) on hot paths. */
  sql: Sql;
  /** drizzle over its own connection pool, opened on first use. */
  readonly db: Database;
  close(): Promise<void>;
  /**
   * Runs `work` on a client of its own, one connection outside the pools, ended once `work`
   * settles: for a session that must outlive a wait on something else (a session-level lock held
   * across a Stripe call). Not a pool's reserve(): postgres.js 3.4.9 keeps sending its statements
   * to its connection after a blip lost it, so a release puts the dead one back in the pool for
   * good (porsager/postgres#1199), and once the pool has reopened it for another caller, an unlock
   * lands in that caller's session. (A begin() no longer does that, patches/postgres+3.4.9.patch,
   * but a blip would still end its transaction, and a lock held by it, mid-wait.)
   */
  withOwnConnection<T>(work: (connection: Sql) => Promise<T>): Promise<T>;
}

function connect(url: string, poolSize: number): Sql {
  const sql: Sql = postgres(url, {
    max: poolSize,
    // bigint columns come back as JS bigint: money never passes through a float (I1).
    types: { bigint: postgres.BigInt },
    onnotice: () => undefined,
    connection: {
      application_name: process.title || 'billing',
      // A session whose client vanished mid-transaction must not hold row locks for long.
      idle_in_transaction_session_timeout: 60_000,
    },
  });
  // On every pool, so each caller's reserve (the refund lock's) meets a lost Postgres as a 503.
  sql.reserve = markingReserveFailures(sql.reserve);
  return sql;
}

export function openDatabase(url: string, poolSize = 10): DatabaseHandle {
  const sql = connect(url, poolSize);
  // drizzle replaces the client's date and bigint serializers, so it gets a client of its own.
  let drizzleClient: Sql | undefined;
  let db: Database | undefined;
  return {
    sql,
    get db() {
      if (!db)
        db = drizzle((drizzleClient = connect(url, Math.max(1, Math.floor(poolSize / 2)))), { schema });
      return db;
    },
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), drizzleClient?.end({ timeout: 5 })]);
    },
    withOwnConnection: async (work) => {
      const own = connect(url, 1);
      try {
        return await work(own);
      } finally {
        // Ending the session drops its session locks. 1 s: a statement cut off by a lost
        // connection never counts as done in postgres.js, and would hold up the answer.
        await own.end({ timeout: 1 });
      }
    },
  };
}

import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { isPostgresNotUp } from './postgres-failures';

export interface WaitForPostgresOptions {
  /** Give up (and throw the last error) after this long. */
  timeoutMs?: number;
  /** Told what is awaited before each pause. */
  log?: (line: string) => void;
}

/**
 * Resolves once the Postgres server of `url` accepts a connection, retrying with a backoff from
 * 250 ms to 5 s while it is down or starting: `npm start` and a migrate container may come up
 * before Postgres does. Any other error (a wrong password, say) is thrown at once.
 * It probes the maintenance database `postgres`, since the target may not exist yet.
 */
export async function waitForPostgres(
  url: string,
  { timeoutMs = 60_000, log = () => undefined }: WaitForPostgresOptions = {},
): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const where = `${admin.hostname}:${admin.port || '5432'}`;
  const deadline = Date.now() + timeoutMs;
  for (let pauseMs = 250; ; pauseMs = Math.min(pauseMs * 2, 5_000)) {
    const sql = postgres(admin.toString(), { max: 1, connect_timeout: 5, onnotice: () => undefined });
    try {
      await sql`select 1`;
      return;
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (!isPostgresNotUp(code) || Date.now() + pauseMs > deadline) throw error;
      log(`waiting for Postgres at ${where} (${code}); next try in ${pauseMs} ms`);
      await sleep(pauseMs);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}

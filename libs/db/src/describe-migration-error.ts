/** The fields of a Postgres error (postgres.js PostgresError) worth printing; all optional. */
interface PostgresReason {
  message?: string;
  code?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

/**
 * What a failed migrate run prints. drizzle wraps the Postgres error as `Failed query: <sql>` and
 * keeps the reason (`type "x" already exists`, its SQLSTATE, detail, hint) in `cause`, which an
 * operator needs. Neither carries the database URL, so no password can leak through here.
 */
export function describeMigrationError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const lines = [error.message.trim()];
  const cause = error.cause as PostgresReason | undefined;
  if (cause && typeof cause === 'object') {
    if (cause.message) lines.push(`cause: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`);
    if (cause.detail) lines.push(`detail: ${cause.detail}`);
    if (cause.hint) lines.push(`hint: ${cause.hint}`);
    if (cause.where) lines.push(`where: ${cause.where}`);
  } else if ((error as PostgresReason).code) {
    // A connection or Postgres error thrown as is (not by drizzle): its code says which.
    lines[0] += ` (${(error as PostgresReason).code})`;
  }
  return lines.join('\n');
}

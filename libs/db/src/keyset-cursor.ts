export class InvalidCursorError extends Error {
  constructor() {
    super('cursor is not one this API returned');
  }
}

/** Position after the last row of a page ordered by (timestamp desc, id desc). */
export interface KeysetCursor {
  /** The row's timestamp as Postgres printed it (microsecond precision, unlike a JS Date). */
  at: string;
  id: string;
}

/** Opaque to clients: base64url of a JSON pair. */
export function encodeKeysetCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify([cursor.at, cursor.id])).toString('base64url');
}

/** How the lists print a cursor's timestamp: to_char(… at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'). */
const CURSOR_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/**
 * The cursor, or InvalidCursorError for anything this API did not hand out. The pair goes into
 * SQL as text cast to the column's types, so it is checked here to what Postgres accepts: an
 * edited cursor gets 422, never a failed statement (500).
 */
export function decodeKeysetCursor(
  text: string,
  isId: (id: string) => boolean = isPrintableId,
): KeysetCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  const [at, id] = Array.isArray(parsed) ? parsed : [];
  if (typeof at !== 'string' || typeof id !== 'string' || !isId(id) || !isCursorInstant(at)) {
    throw new InvalidCursorError();
  }
  return { at, id };
}

/** Printable ASCII without spaces, as event ids are: no NUL or invalid UTF-8 can reach Postgres. */
function isPrintableId(id: string): boolean {
  return /^[\x21-\x7e]{1,255}$/.test(id);
}

/** A real instant in the format above, year 1 on (Date.parse alone would roll 02-31 over to March). */
function isCursorInstant(at: string): boolean {
  if (!CURSOR_INSTANT.test(at) || at.startsWith('0000')) return false;
  const ms = Date.parse(at);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === at.slice(0, 19);
}

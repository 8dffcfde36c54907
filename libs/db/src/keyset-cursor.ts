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

/** The cursor, or InvalidCursorError for anything this API did not hand out. */
export function decodeKeysetCursor(text: string, idPattern = /^.+$/s): KeysetCursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  const [at, id] = Array.isArray(parsed) ? parsed : [];
  if (
    typeof at !== 'string' ||
    typeof id !== 'string' ||
    !idPattern.test(id) ||
    Number.isNaN(Date.parse(at))
  ) {
    throw new InvalidCursorError();
  }
  return { at, id };
}

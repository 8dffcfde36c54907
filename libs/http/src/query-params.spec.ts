import { ApiError } from './api-error';
import { instantQuery, optionalIdempotencyKey, pageLimitQuery, requireIdempotencyKey } from './query-params';

function refusal(read: () => unknown): unknown {
  try {
    read();
  } catch (error) {
    if (error instanceof ApiError) return { status: error.getStatus(), body: error.getResponse() };
    throw error;
  }
  return 'accepted';
}

describe('instantQuery', () => {
  it('reads only RFC 3339 date-times with a time zone, on days the calendar has', () => {
    const refused = {
      status: 422,
      body: {
        error: { code: 'validation_failed', message: expect.stringMatching(/^from must be an RFC 3339/) },
      },
    };
    for (const text of [
      '2026-02-30T00:00:00Z',
      '2026-03-07',
      'March 7 2026',
      '2026-03-07T10:00:00',
      '2026-03-07T24:00:00Z',
    ])
      expect({ text, answer: refusal(() => instantQuery(text, 'from')) }).toEqual({ text, answer: refused });
    expect(instantQuery('2026-03-07T10:00:00.5+01:00', 'from')).toEqual(
      new Date(Date.UTC(2026, 2, 7, 9, 0, 0, 500)),
    );
    expect(instantQuery(undefined, 'from')).toBeUndefined();
  });
});

describe('pageLimitQuery', () => {
  it('reads decimal digits only, not the other numbers Number() reads', () => {
    const refused = {
      status: 422,
      body: { error: { code: 'validation_failed', message: 'limit must be an integer from 1 to 500' } },
    };
    for (const text of ['1e2', '0x10', ' 5 ', '5.0', '+5'])
      expect({ text, answer: refusal(() => pageLimitQuery(text, 500)) }).toEqual({ text, answer: refused });
    expect(pageLimitQuery('007', 500)).toBe(7);
    expect(pageLimitQuery(undefined, 500, 50)).toBe(50);
  });
});

describe('requireIdempotencyKey', () => {
  const answer = (status: number, code: string) => ({
    status,
    body: { error: { code, message: expect.any(String) } },
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
  ])('answers 400 idempotency_key_required when the key is %s', (_, header) => {
    expect(refusal(() => requireIdempotencyKey(header))).toEqual(answer(400, 'idempotency_key_required'));
  });

  it.each([
    ['longer than 255 characters', 'k'.repeat(256)],
    ['holding a space', 'order 42'],
    ['holding a control character', 'order\t42'],
    ['holding a non-ASCII character', 'clé'],
  ])('answers a key %s 400 invalid_idempotency_key', (_, header) => {
    expect(refusal(() => requireIdempotencyKey(header))).toEqual(answer(400, 'invalid_idempotency_key'));
    expect(refusal(() => optionalIdempotencyKey(header))).toEqual(answer(400, 'invalid_idempotency_key'));
  });

  it('takes 1 to 255 printable ASCII characters', () => {
    for (const key of ['k', 'k'.repeat(255), 'order-42|retry:~!'])
      expect(requireIdempotencyKey(key)).toBe(key);
    expect(optionalIdempotencyKey(undefined)).toBeUndefined();
  });
});

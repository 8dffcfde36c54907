import { JsonResponse } from './api-client';

/** Past this, a request is taken as hanging; the test says so instead of timing out. */
const HANG_MS = 15_000;

/** What a route answers while a store it needs is away: at once, retryable, never a 500. */
export const UNAVAILABLE = { status: 503, code: 'unavailable', retryAfter: '1', prompt: true };

/**
 * The answer's status, error code and Retry-After, and whether it came within `promptMs`;
 * "no answer" for a request still hanging after 15 s, so that a hang fails the test with a diff
 * instead of timing it out. A readiness answer also says which store it found down (`checks`).
 */
export async function timedAnswer(request: Promise<JsonResponse>, promptMs: number) {
  const startedAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), HANG_MS)));
  const response = await Promise.race([request, hang]);
  clearTimeout(timer);
  if (response === null) return { status: 'no answer' };
  return {
    status: response.status,
    code: response.body?.error?.code,
    retryAfter: response.headers.get('retry-after'),
    prompt: Date.now() - startedAt < promptMs,
    ...(response.body?.checks ? { checks: response.body.checks } : {}),
  };
}

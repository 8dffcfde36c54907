import { StripeApiError } from '../core/api-error';

/** Test-mode secret and restricted keys; live keys and publishable keys are refused. */
const ACCEPTED_KEY = /^(sk|rk)_test_\S+$/;

/** The key from `Authorization: Bearer <key>` or Basic auth with the key as user (curl -u sk_test_x:). */
export function apiKeyFrom(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const [scheme, credentials = ''] = authorization.trim().split(/\s+/, 2);
  if (/^bearer$/i.test(scheme)) return credentials || null;
  if (/^basic$/i.test(scheme)) {
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    return decoded.split(':', 1)[0] || null;
  }
  return null;
}

function redact(key: string): string {
  return key.length <= 12
    ? `${key.slice(0, 3)}***`
    : `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}`;
}

/** Stripe's 401 answers: no key, or a key it does not know. */
export function authenticationError(authorization: string | undefined): StripeApiError | null {
  const key = apiKeyFrom(authorization);
  if (!key) {
    return new StripeApiError(401, {
      type: 'invalid_request_error',
      message:
        "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    });
  }
  if (!ACCEPTED_KEY.test(key)) {
    return new StripeApiError(401, {
      type: 'invalid_request_error',
      code: 'api_key_invalid',
      message: `Invalid API Key provided: ${redact(key)} (this test server accepts any sk_test_… key)`,
    });
  }
  return null;
}

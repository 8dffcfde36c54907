import { randomUUID } from 'node:crypto';
import { BillingStack } from '../support/billing-stack';
import { expectNothingReachedStores, takeSnapshot } from '../support/store-snapshot';

/** Text Postgres cannot store: a text column refuses U+0000, jsonb also a lone surrogate. */
const NUL = 'a\u0000b';
const LONE_SURROGATE = 'a\ud800b';

/**
 * Any text of a request that Postgres cannot store is refused as a 422 naming its field, before
 * anything is written, on every route whose body is a DTO, and in query and path parameters.
 */
describe('text Postgres cannot store', () => {
  const stack = new BillingStack({ workers: 0 });
  let account: string;

  beforeAll(async () => {
    await stack.start();
    account = await stack.createAccount();
  });
  afterAll(() => stack.stop());

  function expectRefused(response: { status: number; body: any }, field: string): void {
    expect(response.status).toBe(422);
    expect(response.body).toEqual({
      error: { code: 'validation_failed', message: expect.stringContaining(field) },
      errors: [{ field, code: 'invalid', message: expect.any(String) }],
    });
  }

  it.each([
    ['U+0000', NUL],
    ['a lone surrogate', LONE_SURROGATE],
  ])('answers 422 to an account name holding %s and creates nothing', async (_, name) => {
    const before = await takeSnapshot(stack);
    const response = await stack.admin.post('/v1/admin/accounts', {
      name,
      email: 'owner@example.test',
      tier: 'developer',
    });
    expectRefused(response, 'name');
    await expectNothingReachedStores(stack, before);
  });

  it('answers 422 to a credit grant whose reason holds U+0000, and leaves its Idempotency-Key free', async () => {
    const key = randomUUID();
    const path = `/v1/admin/accounts/${account}/credit-grants`;
    const before = await takeSnapshot(stack);
    const refused = await stack.admin.post(
      path,
      { amount: '1.00', reason: `promo${NUL}` },
      { 'idempotency-key': key },
    );
    expectRefused(refused, 'reason');
    await expectNothingReachedStores(stack, before);

    const granted = await stack.admin.post(
      path,
      { amount: '1.00', reason: 'promo' },
      { 'idempotency-key': key },
    );
    expect(granted.status).toBe(201);
    expect(granted.body).toEqual({ balance: '1.000000' });
  });

  it('answers 422 to U+0000 in a query parameter that a query would carry to Postgres', async () => {
    const response = await stack.admin.get(
      `/v1/accounts/${account}/audit-log?action=${encodeURIComponent(NUL)}`,
    );
    expectRefused(response, 'action');
  });

  it('answers 422 to U+0000 in a path parameter (%00)', async () => {
    const card = encodeURIComponent(`pm_${NUL}`);
    const response = await stack.admin.request('DELETE', `/v1/accounts/${account}/payment-methods/${card}`);
    expectRefused(response, 'paymentMethodId');
  });
});

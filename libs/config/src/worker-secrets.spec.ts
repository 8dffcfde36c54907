import type * as EnvSchema from './env-schema';
import { loadConfig } from './load-config';

/** env-schema.ts reads NODE_ENV when it loads (production has no development defaults): load it afresh under one. */
function schemasUnder(nodeEnv: string): typeof EnvSchema {
  const saved = process.env.NODE_ENV;
  process.env.NODE_ENV = nodeEnv;
  try {
    let schemas: typeof EnvSchema | undefined;
    jest.isolateModules(() => {
      schemas = jest.requireActual<typeof EnvSchema>('./env-schema');
    });
    return schemas!;
  } finally {
    process.env.NODE_ENV = saved;
  }
}

const SECRETS = {
  STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef',
  STRIPE_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
  S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  S3_SECRET_ACCESS_KEY: 's3-secret-example',
};

describe('the worker secrets by role', () => {
  describe('in production', () => {
    const { workerEnvSchema } = schemasUnder('production');
    const production = { NODE_ENV: 'production' };

    it('starts a usage worker without the Stripe and S3 secrets, which it never uses', () => {
      const config = loadConfig(workerEnvSchema, { ...production, WORKER_ROLE: 'usage' });
      expect(config.WORKER_ROLE).toBe('usage');
      expect(config.STRIPE_SECRET_KEY).toBe('');
      expect(config.S3_SECRET_ACCESS_KEY).toBe('');
    });

    it.each(['background', 'all'])('refuses a worker of role %s without them, naming each', (role) => {
      expect(() => loadConfig(workerEnvSchema, { ...production, WORKER_ROLE: role })).toThrow(
        new RegExp(Object.keys(SECRETS).join('.*'), 's'),
      );
      expect(() => loadConfig(workerEnvSchema, { ...production, WORKER_ROLE: role })).toThrow(
        'required in production unless WORKER_ROLE=usage',
      );
    });

    it.each(['background', 'all', 'usage'])('takes them given to a worker of role %s', (role) => {
      const config = loadConfig(workerEnvSchema, { ...production, WORKER_ROLE: role, ...SECRETS });
      expect(config).toMatchObject(SECRETS);
    });

    it('still checks a Stripe key given to a usage worker', () => {
      expect(() =>
        loadConfig(workerEnvSchema, { ...production, WORKER_ROLE: 'usage', STRIPE_SECRET_KEY: 'short' }),
      ).toThrow('STRIPE_SECRET_KEY: must be at least 16 characters');
    });

    it('leaves the api requiring them', () => {
      const { apiEnvSchema } = schemasUnder('production');
      const tokens = { ADMIN_TOKEN: 'admin-token-0123456789', GATEWAY_TOKENS: 'gateway-token-0123456789' };
      expect(() => loadConfig(apiEnvSchema, { ...production, ...tokens })).toThrow('STRIPE_SECRET_KEY');
      expect(loadConfig(apiEnvSchema, { ...production, ...tokens, ...SECRETS })).toMatchObject(SECRETS);
    });
  });

  it('gives every role the development defaults outside production', () => {
    const { workerEnvSchema } = schemasUnder('development');
    for (const role of ['usage', 'background', 'all']) {
      expect(loadConfig(workerEnvSchema, { WORKER_ROLE: role })).toMatchObject({
        STRIPE_SECRET_KEY: 'sk_test_local_stripe_server',
        S3_ACCESS_KEY_ID: 'S3RVER',
      });
    }
  });
});

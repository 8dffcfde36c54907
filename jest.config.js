/** Unit specs live beside the code; integration suites under test/ use real Postgres, Redis and processes. */
const libs = [
  'access',
  'alerts',
  'audit',
  'config',
  'db',
  'http',
  'invoices',
  'ledger',
  'metrics',
  'money',
  'notifications',
  'payments',
  'queue',
  'catalog',
  'redis',
  'storage',
  'stripe-server',
  'usage',
];

module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testRegex: '.*\\.(spec|e2e-spec)\\.ts$',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/scripts', '<rootDir>/test'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  moduleNameMapper: Object.fromEntries(libs.map((lib) => [`^@app/${lib}$`, `<rootDir>/libs/${lib}/src`])),
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  testTimeout: 120000,
};

import type { Config } from 'jest';

// Browser tests (`npm run test:browser`): headless Chromium (Debian's /usr/bin/chromium) driven by
// playwright-core, see test/browser/support/browser.ts. `npm test` ignores test/browser.
//
// The ESM/ts-jest settings and the global setup/teardown are those of jest.config.ts (copied, not
// imported: jest loads config files with Node's own resolver, which cannot follow a `.js` import
// to a `.ts` file), so browser tests get the same test Redis (REDIS_URL_TEST) as `npm test`.
// One worker: every test file drives its own Chromium, and several at once only make the run
// slower and flakier.
const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  roots: ['<rootDir>/test/browser'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  setupFiles: ['<rootDir>/test/support/quiet-oidc-warnings.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 1,
};

export default config;

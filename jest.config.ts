import type { Config } from 'jest';

// ESM all the way: oidc-provider and jose ship only ES modules, so tests run as ESM through
// ts-jest (NODE_OPTIONS=--experimental-vm-modules is set by `npm test`).
const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Browser tests run with `npm run test:browser`: this same config with roots, ignore patterns,
  // one worker and a longer timeout given on the command line.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/browser/'],
  setupFiles: ['<rootDir>/test/support/quiet-oidc-warnings.ts'],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30_000,
};

export default config;

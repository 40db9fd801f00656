/**
 * `mandate`: the authorization server, for embedding it in another Node process (tests, a
 * custom start-up). `npm start` runs `main.ts`, which does the same as this sketch plus
 * clustering, background jobs and graceful shutdown:
 *
 *   const policy = await loadPolicy('config/mandate.yaml');
 *   const store = new MemoryStore();
 *   const keys = await KeyStore.open('keys', { generateIfEmpty: true, retentionSeconds: 960 });
 *   const auditKeys = await openAuditKeys('keys', { generateIfEmpty: true });
 *   const { app } = await createApp({ issuer, policy, store, keys, auditKeys, secrets: resolveSecrets(policy, process.env, false), logger: createLogger('info') });
 *   createServer(app.callback()).listen(3000);
 *
 * The resource-server kit is a separate entry point: `mandate/resource-server`.
 */
export { createApp } from './app.js';
export type { AppDeps, MandateApp } from './app.js';
export { loadPolicy, parsePolicy } from './config/load.js';
export type { Policy } from './config/policy-schema.js';
export { parseEnv } from './config/env.js';
export type { Env } from './config/env.js';
export { ConfigError } from './config/errors.js';
export { KeyStore, KeyStoreError, generateKey, rotateKeys, listKeys } from './keys/keystore.js';
export { openAuditKeys, generateAuditKey } from './audit/audit-keys.js';
export { MemoryStore } from './store/memory.js';
export { createRedisStore } from './store/redis.js';
export { openStore } from './store/open.js';
export type { Store } from './store/store.js';
export { resolveSecrets } from './registry/secrets.js';
export { createLogger } from './log.js';
export { MandateError, StoreUnavailableError } from './errors.js';

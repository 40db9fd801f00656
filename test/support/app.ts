import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { createApp, type MandateApp } from '../../src/app.js';
import { openAuditKeys } from '../../src/audit/audit-keys.js';
import { parsePolicy } from '../../src/config/load.js';
import type { Policy } from '../../src/config/policy-schema.js';
import { KeyStore } from '../../src/keys/keystore.js';
import { createLogger } from '../../src/log.js';
import { resolveSecrets } from '../../src/registry/secrets.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { testKeyPrefix, testRedisUrl } from './redis.js';

export type StoreKind = 'memory' | 'redis';
export const STORE_KINDS: StoreKind[] = ['memory', 'redis'];

/** A small policy used by most integration tests (raw document: it goes through the real parser). */
export const TEST_POLICY = {
  resources: [
    { uri: 'https://api.travel.example', name: 'Travel API', scopes: ['trips:read', 'trips:book'], high_risk_scopes: ['trips:book'], max_token_ttl: 600 },
    { uri: 'https://api.mail.example', name: 'Mail API', scopes: ['mail:read'] },
  ],
  users: [{ id: 'alice', name: 'Alice Example' }],
  clients: [
    { id: 'travel-app', auth: { method: 'client_secret_basic', secret_env: 'TEST_TRAVEL_APP_SECRET' }, scopes: ['trips:read', 'trips:book'], audiences: ['https://api.travel.example'] },
    { id: 'multi-app', auth: { method: 'client_secret_post', secret_env: 'TEST_MULTI_APP_SECRET' }, scopes: ['trips:read', 'mail:read'], audiences: ['https://api.travel.example', 'https://api.mail.example'] },
    { id: 'travel-api', auth: { method: 'client_secret_basic', secret_env: 'TEST_TRAVEL_API_SECRET' }, grant_types: [], resource_server: 'https://api.travel.example' },
    { id: 'mail-api', auth: { method: 'client_secret_basic', secret_env: 'TEST_MAIL_API_SECRET' }, grant_types: [], resource_server: 'https://api.mail.example' },
  ],
  agents: [
    { id: 'travel-agent', name: 'Travel agent', owner: 'alice', tier: 2, scopes: ['trips:read'], audiences: ['https://api.travel.example'], auth: { method: 'client_secret_basic', secret_env: 'TEST_TRAVEL_AGENT_SECRET' } },
  ],
};

/** Secrets as resolved in development (`<id>-dev-secret`), since the TEST_* variables are unset. */
export const secretOf = (clientId: string): string => `${clientId}-dev-secret`;

export interface TestApp extends MandateApp {
  store: Store;
  keys: KeyStore;
  keysDir: string;
  issuer: string;
  server: Server;
  /** Log lines written by the app (JSON strings). */
  logs: string[];
  close(): Promise<void>;
}

export async function makeStore(kind: StoreKind): Promise<Store> {
  return kind === 'memory' ? new MemoryStore() : createRedisStore({ url: testRedisUrl(), keyPrefix: testKeyPrefix() });
}

/**
 * Starts the real app on 127.0.0.1 with an ephemeral port, the issuer being that address, so
 * that resource-server-style checks (remote JWKS) run over loopback exactly as in production.
 */
/** The admin token every test app accepts unless a test passes its own (or null for none). */
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestAppOptions {
  store: StoreKind | Store;
  /** The raw policy, or a function of the issuer (e.g. for `webauthn.origins`). */
  policy?: unknown | ((issuer: string) => unknown);
  adminToken?: string | null;
  /** Host name in the issuer (default 127.0.0.1). Browser tests use `localhost`: a WebAuthn RP ID must be a domain. */
  issuerHost?: string;
}

export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const store = typeof options.store === 'string' ? await makeStore(options.store) : options.store;
  const keysDir = await mkdtemp(join(tmpdir(), 'mandate-keys-'));
  const keys = await KeyStore.open(keysDir, { generateIfEmpty: true, retentionSeconds: 960 });
  const logs: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { logs.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  const logger = createLogger('info', sink);

  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://${options.issuerHost ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  const rawPolicy = typeof options.policy === 'function' ? (options.policy as (issuer: string) => unknown)(issuer) : options.policy;
  const policy: Policy = parsePolicy(rawPolicy ?? TEST_POLICY, 'test policy');
  const adminToken = options.adminToken === undefined ? ADMIN_TOKEN : options.adminToken;
  const auditKeys = await openAuditKeys(keysDir, { generateIfEmpty: true });
  const mandate = await createApp({ issuer, policy, store, keys, auditKeys, secrets: resolveSecrets(policy, {}, false), logger, ...(adminToken !== null ? { adminToken } : {}) });
  server.on('request', mandate.app.callback());

  return {
    ...mandate, store, keys, keysDir, issuer, server, logs,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      await rm(keysDir, { recursive: true, force: true });
    },
  };
}

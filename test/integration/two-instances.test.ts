import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import { createApp } from '../../src/app.js';
import { openAuditKeys } from '../../src/audit/audit-keys.js';
import { parsePolicy } from '../../src/config/load.js';
import { KeyStore } from '../../src/keys/keystore.js';
import { createLogger } from '../../src/log.js';
import { resolveSecrets } from '../../src/registry/secrets.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { TokenRecords } from '../../src/tokens/records.js';
import { ADMIN_TOKEN, secretOf, startTestApp, TEST_POLICY, type TestApp } from '../support/app.js';
import { testKeyPrefix, testRedisUrl } from '../support/redis.js';

/**
 * SPEC section 10: processes are stateless and share one Redis. Two app instances on the same Redis
 * with the same key prefix see each other's registry changes at once: every read goes to the store.
 */

const TRAVEL = 'https://api.travel.example';

const POLICY = {
  ...TEST_POLICY,
  users: [...TEST_POLICY.users, { id: 'bob', name: 'Bob' }],
  agents: [
    ...TEST_POLICY.agents,
    { id: 'policy-agent', name: 'Policy agent', owner: 'bob', tier: 3, scopes: ['trips:read'], audiences: [TRAVEL], grant_types: ['client_credentials'], auth: { method: 'client_secret_basic', secret_env: 'TEST_POLICY_AGENT_SECRET' } },
  ],
  delegations: [{ id: 'alice-travel', user: 'alice', agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL] }],
};

interface Instance {
  server: Server;
}

const admin = (t: Instance) => ({
  get: (path: string) => request(t.server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
  post: (path: string, body: object = {}) => request(t.server).post(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
  patch: (path: string, body: object) => request(t.server).patch(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
  delete: (path: string) => request(t.server).delete(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
});

const clientCredentials = (t: Instance, id: string, secret: string) => request(t.server).post('/token').auth(id, secret).type('form')
  .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' });

const introspect = async (t: Instance, token: string): Promise<Record<string, unknown>> => {
  const res = await request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token }).expect(200);
  return res.body as Record<string, unknown>;
};

/** Registers an agent on `t` with a generated secret; returns the secret. */
async function createAgent(t: Instance, id: string, owner = 'alice'): Promise<string> {
  const res = await admin(t).post('/admin/agents', {
    id, name: `Agent ${id}`, owner, tier: 3, scopes: ['trips:read'], audiences: [TRAVEL], grant_types: ['client_credentials'], auth: { method: 'client_secret_basic' },
  });
  expect({ status: res.status, id: res.body.id }).toEqual({ status: 201, id });
  return res.body.client_secret as string;
}

async function listAll(t: Instance, path: string): Promise<{ id: string }[]> {
  const items: { id: string }[] = [];
  let cursor: string | null = null;
  do {
    const res = await admin(t).get(`${path}?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`).expect(200);
    items.push(...(res.body.items as { id: string }[]));
    cursor = res.body.next_cursor as string | null;
  } while (cursor !== null);
  return items;
}

describe('two instances on one Redis, same key prefix', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    const keyPrefix = testKeyPrefix();
    const [storeA, storeB] = await Promise.all([
      createRedisStore({ url: testRedisUrl(), keyPrefix }),
      createRedisStore({ url: testRedisUrl(), keyPrefix }),
    ]);
    // Both load the same policy file at the same moment.
    [a, b] = await Promise.all([startTestApp({ store: storeA, policy: POLICY }), startTestApp({ store: storeB, policy: POLICY })]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('the policy file\'s records exist once, and both instances list the same ones', async () => {
    for (const [path, expected] of [
      ['/admin/agents', ['policy-agent', 'travel-agent']],
      ['/admin/users', ['alice', 'bob']],
      ['/admin/delegations', ['alice-travel']],
    ] as const) {
      const fromA = (await listAll(a, path)).map((r) => r.id);
      const fromB = (await listAll(b, path)).map((r) => r.id);
      expect({ path, ids: fromA }).toEqual({ path, ids: [...expected] });
      expect({ path, ids: fromB }).toEqual({ path, ids: [...expected] });
    }
    expect((await admin(a).get('/admin/agents/travel-agent').expect(200)).body).toMatchObject({ status: 'active', source: 'policy', owner: 'alice' });
  });

  it('an agent created on A is listed by B at once and gets a token at B', async () => {
    const secret = await createAgent(a, 'made-on-a');
    const listed = (await admin(b).get('/admin/agents?limit=200').expect(200)).body.items.map((i: { id: string }) => i.id);
    expect(listed).toContain('made-on-a');
    expect((await admin(b).get('/admin/agents/made-on-a').expect(200)).body).toMatchObject({ id: 'made-on-a', status: 'active' });
    const res = await clientCredentials(b, 'made-on-a', secret).expect(200);
    expect((await introspect(b, res.body.access_token)).active).toBe(true);
  });

  it('an agent suspended on B is refused at A at once; resumed on A it works at B', async () => {
    const secret = await createAgent(a, 'suspend-me');
    await clientCredentials(a, 'suspend-me', secret).expect(200);
    await admin(b).patch('/admin/agents/suspend-me', { status: 'suspended' }).expect(200);
    const refused = await clientCredentials(a, 'suspend-me', secret);
    expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    expect((await admin(a).get('/admin/agents/suspend-me').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'admin' });
    await admin(a).patch('/admin/agents/suspend-me', { status: 'active' }).expect(200);
    await clientCredentials(b, 'suspend-me', secret).expect(200);
  });

  it('a secret rotated on A: the new one works at B, the old one fails at B', async () => {
    const old = await createAgent(b, 'rotate-me');
    await clientCredentials(b, 'rotate-me', old).expect(200);
    const rotated = await admin(a).post('/admin/agents/rotate-me/secret', {}).expect(200);
    const fresh = rotated.body.client_secret as string;
    expect(typeof fresh).toBe('string');
    expect(fresh).not.toBe(old);
    const stale = await clientCredentials(b, 'rotate-me', old);
    expect({ status: stale.status, error: stale.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    await clientCredentials(b, 'rotate-me', fresh).expect(200);
    await clientCredentials(a, 'rotate-me', fresh).expect(200);
  });

  it('a delegation created on A and revoked on B is revoked as seen from A', async () => {
    const created = await admin(a).post('/admin/delegations', { user: 'bob', agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL] }).expect(201);
    const id = created.body.id as string;
    expect((await admin(b).get(`/admin/delegations/${id}`).expect(200)).body).toMatchObject({ id, status: 'active' });
    await admin(b).delete(`/admin/delegations/${id}`).expect(200);
    expect((await admin(a).get(`/admin/delegations/${id}`).expect(200)).body).toMatchObject({ id, status: 'revoked' });
    const active = (await admin(a).get('/admin/delegations?status=active&limit=200').expect(200)).body.items.map((d: { id: string }) => d.id);
    expect(active).not.toContain(id);
    expect(active).toContain('alice-travel');
  });

  it('a user deactivated on B: its agent is suspended (orphaned) as seen from A and refused at A', async () => {
    await admin(a).post('/admin/users', { id: 'dora', name: 'Dora' }).expect(201);
    const secret = await createAgent(a, 'dora-agent', 'dora');
    const token = (await clientCredentials(a, 'dora-agent', secret).expect(200)).body.access_token as string;
    expect((await introspect(a, token)).active).toBe(true);
    await admin(b).patch('/admin/users/dora', { status: 'deactivated' }).expect(200);
    expect((await admin(a).get('/admin/agents/dora-agent').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'orphaned' });
    expect((await admin(a).get('/admin/users/dora').expect(200)).body).toMatchObject({ status: 'deactivated' });
    await clientCredentials(a, 'dora-agent', secret).expect(401);
    expect(await introspect(a, token)).toEqual({ active: false });
  });

  it('a token issued by A is revoked for A when B retires its agent', async () => {
    const secret = await createAgent(a, 'retire-on-b');
    const token = (await clientCredentials(a, 'retire-on-b', secret).expect(200)).body.access_token as string;
    expect((await introspect(a, token)).active).toBe(true);
    await admin(b).delete('/admin/agents/retire-on-b').expect(200);
    expect(await introspect(a, token)).toEqual({ active: false });
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti as string;
    expect(typeof (await new TokenRecords(a.store).get(jti))?.revoked_at).toBe('number');
    expect((await admin(a).post('/admin/agents', {
      id: 'retire-on-b', name: 'again', owner: 'alice', tier: 3, scopes: ['trips:read'], audiences: [TRAVEL], auth: { method: 'client_secret_basic' },
    })).status).toBe(409);
  });
});

/**
 * startTestApp gives each instance its own signing keys and issuer, so a token of one is never
 * valid at the other. A real deployment behind a load balancer shares both: this pair does too,
 * so that "inactive at B" can only come from the shared store.
 */
interface SharedInstance extends Instance {
  store: Store;
}

async function startSharedPair(): Promise<{ a: SharedInstance; b: SharedInstance; close(): Promise<void> }> {
  const policy = parsePolicy(POLICY, 'test policy');
  const keyPrefix = testKeyPrefix();
  const keysDir = await mkdtemp(join(tmpdir(), 'mandate-keys-'));
  const servers = [createServer(), createServer()];
  const stores: Store[] = [];
  try {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    // The issuer is A's address; B answers for the same issuer, as behind a load balancer.
    const issuer = `http://127.0.0.1:${(servers[0]!.address() as AddressInfo).port}`;
    const sink = new Writable({ write(_chunk, _enc, done) { done(); } });
    const instances: SharedInstance[] = [];
    for (const server of servers) {
      const store = await createRedisStore({ url: testRedisUrl(), keyPrefix });
      stores.push(store);
      const keys = await KeyStore.open(keysDir, { generateIfEmpty: true, retentionSeconds: 960 });
      const auditKeys = await openAuditKeys(keysDir, { generateIfEmpty: true });
      const mandate = await createApp({ issuer, policy, store, keys, auditKeys, secrets: resolveSecrets(policy, {}, false), logger: createLogger('info', sink), adminToken: ADMIN_TOKEN });
      server.on('request', mandate.app.callback());
      instances.push({ server, store });
    }
    return {
      a: instances[0]!,
      b: instances[1]!,
      async close() {
        await closeAll(servers, stores, keysDir);
      },
    };
  } catch (err) {
    await closeAll(servers, stores, keysDir);
    throw err;
  }
}

async function closeAll(servers: Server[], stores: Store[], keysDir: string): Promise<void> {
  for (const server of servers) {
    server.closeAllConnections();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  for (const store of stores) await store.close();
  await rm(keysDir, { recursive: true, force: true });
}

describe('two instances sharing Redis, issuer and signing keys', () => {
  let pair: Awaited<ReturnType<typeof startSharedPair>>;
  beforeAll(async () => {
    pair = await startSharedPair();
  });
  afterAll(() => pair?.close());

  it('a token issued by A is active at B, and inactive at B once A retires its agent', async () => {
    const { a, b } = pair;
    const secret = await createAgent(a, 'shared-agent');
    const token = (await clientCredentials(a, 'shared-agent', secret).expect(200)).body.access_token as string;
    expect(await introspect(b, token)).toMatchObject({ active: true, client_id: 'shared-agent', aud: TRAVEL });
    // Another agent's token, to show B still answers active for what was not retired.
    const other = await createAgent(b, 'other-agent');
    const otherToken = (await clientCredentials(b, 'other-agent', other).expect(200)).body.access_token as string;

    await admin(a).delete('/admin/agents/shared-agent').expect(200);
    expect(await introspect(b, token)).toEqual({ active: false });
    expect((await introspect(a, otherToken)).active).toBe(true);
    await clientCredentials(b, 'shared-agent', secret).expect(401);
  });

  it('a token revoked at B is inactive at A', async () => {
    const { a, b } = pair;
    const secret = await createAgent(b, 'revoking-agent');
    const token = (await clientCredentials(a, 'revoking-agent', secret).expect(200)).body.access_token as string;
    expect((await introspect(a, token)).active).toBe(true);
    await request(b.server).post('/token/revocation').auth('revoking-agent', secret).type('form').send({ token }).expect(200);
    expect(await introspect(a, token)).toEqual({ active: false });
  });
});

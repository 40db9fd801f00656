import { randomBytes, randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import request from 'supertest';

import { MemoryStore } from '../../src/store/memory.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { ADMIN_TOKEN, startTestApp, STORE_KINDS, TEST_POLICY, type TestApp } from '../support/app.js';
import { testKeyPrefix, testRedisUrl } from '../support/redis.js';

/**
 * Behaviour of every admin API route (SPEC section 8) with good and bad input, on both stores:
 * validation names the field, unknown ids are 404, conflicts 409, the admin token is required,
 * generated secrets are shown once and kept only as digests, lifecycle changes cascade, and every
 * change is an audit event.
 */

const TRAVEL = 'https://api.travel.example';
const MAIL = 'https://api.mail.example';
const IDP = 'https://idp.example.com';
const DAY_MS = 86_400_000;

/** TEST_POLICY with a one-day review interval on every tier. */
const POLICY = {
  ...TEST_POLICY,
  tiers: {
    1: { max_token_ttl: 300, approval: 'always', review_interval_days: 1 },
    2: { max_token_ttl: 600, approval: 'high_risk', review_interval_days: 1 },
    3: { max_token_ttl: 900, approval: 'never', review_interval_days: 1 },
  },
};

const PLAIN_CLIENTS = ['travel-app', 'multi-app', 'travel-api', 'mail-api'];

interface AuditEvent {
  id: string;
  time: string;
  type: string;
  outcome: string;
  reason?: string;
  request_id?: string;
  subject?: { iss: string; sub: string };
  client_id?: string;
  delegation_id?: string;
  approver?: string;
}

type Body = Record<string, unknown>;

/** An agent body that the registry accepts (keys, so no secret), with overrides. */
const agentBody = (id: string, extra: Body = {}): Body => JSON.parse(JSON.stringify({
  id, name: `Agent ${id}`, owner: 'alice', tier: 2, scopes: ['trips:read'], audiences: [TRAVEL], auth: { method: 'private_key_jwt', jwks: { keys: [] } }, ...extra,
})) as Body;

/** Every key and value under a prefix of a Redis, read with a separate raw connection. */
async function redisDump(url: string, prefix: string): Promise<string[]> {
  const redis = new Redis(url);
  try {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        out.push(key);
        const type = await redis.type(key);
        if (type === 'string') out.push((await redis.get(key)) ?? '');
        else if (type === 'set') out.push(...(await redis.smembers(key)));
        else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') out.push(...(await redis.lrange(key, 0, -1)));
        else if (type === 'zset') out.push(...(await redis.zrange(key, 0, -1)));
        else out.push(`<${type}>`);
      }
    } while (cursor !== '0');
    return out;
  } finally {
    await redis.quit();
  }
}

describe.each(STORE_KINDS)('admin API (%s store)', (kind) => {
  let t: TestApp;
  let prefix: string | undefined;

  beforeAll(async () => {
    let store: Store;
    if (kind === 'redis') {
      prefix = testKeyPrefix();
      store = await createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
    } else {
      store = new MemoryStore();
    }
    t = await startTestApp({ store, policy: POLICY });
  });
  afterAll(() => t.close());

  const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const get = (path: string, query: Record<string, string> = {}) => request(t.server).get(path).set(bearer).query(query);
  const post = (path: string, body?: unknown) => {
    const req = request(t.server).post(path).set(bearer);
    return body === undefined ? req : req.send(body as object);
  };
  const patch = (path: string, body: unknown) => request(t.server).patch(path).set(bearer).send(body as object);
  const del = (path: string) => request(t.server).delete(path).set(bearer);
  const rawPost = (path: string, text: string, type = 'application/json') => request(t.server).post(path).set(bearer).set('Content-Type', type).send(text);

  const auditEvents = (): AuditEvent[] => t.logs.filter((line) => line.includes('"audit":true')).map((line) => (JSON.parse(line) as { event: AuditEvent }).event);
  const eventsOf = (match: Partial<AuditEvent>): AuditEvent[] =>
    auditEvents().filter((e) => Object.entries(match).every(([k, v]) => JSON.stringify((e as unknown as Body)[k]) === JSON.stringify(v)));

  /** A 400 naming `field`, in the documented shape and nothing else. */
  const expectFieldError = (res: request.Response, field: string): void => {
    expect({ status: res.status, body: res.body as unknown }).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: expect.stringContaining(field), field },
    });
  };

  /** Every item of a list, following next_cursor pages of `limit`. */
  async function walk(path: string, query: Record<string, string>, limit: number): Promise<{ ids: string[]; pages: number }> {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(path, { ...query, limit: String(limit), ...(cursor !== null ? { cursor } : {}) }).expect(200);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      ids.push(...(res.body.items as { id: string }[]).map((i) => i.id));
      cursor = res.body.next_cursor as string | null;
      pages += 1;
      if (pages > 500) throw new Error(`${path}: paging does not end`);
    } while (cursor !== null);
    return { ids, pages };
  }

  // ——— the admin token ———

  describe('the admin token', () => {
    it('a missing or wrong token gets 401 with exactly {"error":"unauthorized"}, and changes nothing', async () => {
      const headers: (string | undefined)[] = [
        undefined, 'Bearer wrong', `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, `Token ${ADMIN_TOKEN}`,
        `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`, `Bearer  ${ADMIN_TOKEN}`, ADMIN_TOKEN, 'Bearer ',
      ];
      const requests = (auth: string | undefined) => {
        const withAuth = (r: request.Test) => (auth === undefined ? r : r.set('Authorization', auth));
        return [
          withAuth(request(t.server).get('/admin/agents')),
          withAuth(request(t.server).get('/admin/openapi.json')),
          withAuth(request(t.server).get('/admin/agents/travel-agent')),
          withAuth(request(t.server).get('/admin/no-such-route')),
          withAuth(request(t.server).get('/admin')),
          withAuth(request(t.server).post('/admin/agents')).send(agentBody('unauth-agent')),
          withAuth(request(t.server).post('/admin/users')).send({ id: 'unauth-user', name: 'U' }),
          withAuth(request(t.server).patch('/admin/agents/travel-agent')).send({ status: 'suspended' }),
          withAuth(request(t.server).delete('/admin/agents/travel-agent')),
          withAuth(request(t.server).post('/admin/agents/travel-agent/secret')).send({}),
        ];
      };
      for (const auth of headers) {
        for (const req of requests(auth)) {
          const res = await req;
          expect({ auth, status: res.status, text: res.text }).toEqual({ auth, status: 401, text: '{"error":"unauthorized"}' });
          expect(res.headers['www-authenticate']).toBe('Bearer realm="mandate-admin"');
        }
      }
      await get('/admin/agents/unauth-agent').expect(404);
      await get('/admin/users/unauth-user').expect(404);
      const agent = await get('/admin/agents/travel-agent').expect(200);
      expect(agent.body).toMatchObject({ status: 'active', auth: { method: 'client_secret_basic', secret_env: 'TEST_TRAVEL_AGENT_SECRET' } });
      expect(auditEvents().filter((e) => e.client_id === 'travel-agent' || e.client_id === 'unauth-agent')).toEqual([]);
    });

    it('without an admin token configured, every /admin path answers 404 (the API does not exist)', async () => {
      const off = await startTestApp({ store: kind, adminToken: null });
      try {
        const paths = ['/admin', '/admin/openapi.json', '/admin/agents', '/admin/agents/travel-agent', '/admin/users', '/admin/users/alice',
          '/admin/delegations', '/admin/reviews', '/admin/shadow-agents', '/admin/agents/travel-agent/secret', '/admin/whatever'];
        for (const path of paths) {
          for (const auth of [undefined, `Bearer ${ADMIN_TOKEN}`, 'Bearer null', 'Bearer undefined', 'Bearer ']) {
            for (const method of ['get', 'post', 'patch', 'delete'] as const) {
              let req = request(off.server)[method](path);
              if (auth !== undefined) req = req.set('Authorization', auth);
              if (method === 'post' || method === 'patch') req = req.send({ id: 'x', name: 'X' });
              const res = await req;
              expect({ method, path, auth, status: res.status, body: res.body as unknown }).toEqual({ method, path, auth, status: 404, body: { error: 'not_found' } });
            }
          }
        }
        // The rest of the server is there.
        await request(off.server).get('/.well-known/openid-configuration').expect(200);
        expect(await off.governance.registry.user('x')).toBeUndefined();
      } finally {
        await off.close();
      }
    });
  });

  // ——— agents ———

  describe('creating agents', () => {
    it('refuses bad input with 400 naming the field, and writes nothing', async () => {
      const cases: [string, Body, string][] = [
        ['no owner', agentBody('bad-1', { owner: undefined }), 'owner'],
        ['unknown owner', agentBody('bad-2', { owner: 'nobody' }), 'owner'],
        ['tier 0', agentBody('bad-3', { tier: 0 }), 'tier'],
        ['tier 4', agentBody('bad-4', { tier: 4 }), 'tier'],
        ['tier as a string', agentBody('bad-5', { tier: '1' }), 'tier'],
        ['tier 1.5', agentBody('bad-6', { tier: 1.5 }), 'tier'],
        ['no tier', agentBody('bad-7', { tier: undefined }), 'tier'],
        ['scope of another resource', agentBody('bad-8', { scopes: ['mail:read'] }), 'scopes[0]'],
        ['second scope outside the audiences', agentBody('bad-9', { scopes: ['trips:read', 'mail:read'] }), 'scopes[1]'],
        ['scope of no resource', agentBody('bad-10', { scopes: ['trips:read', 'trips:book', 'admin:all'] }), 'scopes[2]'],
        ['unregistered audience', agentBody('bad-11', { audiences: ['https://unregistered.example'], scopes: [] }), 'audiences[0]'],
        ['second audience unregistered', agentBody('bad-12', { audiences: [TRAVEL, 'https://unregistered.example'] }), 'audiences[1]'],
        ['default_audience outside audiences', agentBody('bad-13', { default_audience: MAIL }), 'default_audience'],
        ['may_delegate_to an unknown agent', agentBody('bad-14', { may_delegate_to: ['ghost-agent'] }), 'may_delegate_to[0]'],
        ['may_delegate_to itself', agentBody('bad-15', { may_delegate_to: ['travel-agent', 'bad-15'] }), 'may_delegate_to[1]'],
        ['expires_at in the past', agentBody('bad-16', { expires_at: '2020-01-01T00:00:00Z' }), 'expires_at'],
        ['expires_at not a timestamp', agentBody('bad-17', { expires_at: 'next week' }), 'expires_at'],
        ['unknown field', agentBody('bad-18', { colour: 'blue' }), 'colour'],
        ['status is not set at creation', agentBody('bad-19', { status: 'active' }), 'status'],
        ['empty name', agentBody('bad-20', { name: '' }), 'name'],
        ['bad id', agentBody('bad 21'), 'id'],
        ['max_token_ttl above 900', agentBody('bad-22', { max_token_ttl: 901 }), 'max_token_ttl'],
        ['unknown grant type', agentBody('bad-23', { grant_types: ['password'] }), 'grant_types[0]'],
        ['secret_env is for the policy file', agentBody('bad-24', { auth: { method: 'client_secret_basic', secret_env: 'MY_SECRET' } }), 'auth.secret_env'],
        ['both jwks and jwks_uri', agentBody('bad-25', { auth: { method: 'private_key_jwt', jwks: { keys: [] }, jwks_uri: 'https://keys.example/jwks' } }), 'auth'],
        ['no auth', agentBody('bad-26', { auth: undefined }), 'auth'],
      ];
      for (const [name, body, field] of cases) {
        const res = await post('/admin/agents', body);
        expect({ name, status: res.status, field: res.body.field as unknown }).toEqual({ name, status: 400, field });
        expectFieldError(res, field);
        if (typeof body.id === 'string' && !body.id.includes(' ')) await get(`/admin/agents/${body.id}`).expect(404);
      }
      const unknown = await post('/admin/agents', agentBody('bad-30', { colour: 'blue' }));
      expect(unknown.body.error_description).toBe('colour: unknown field');

      expectFieldError(await rawPost('/admin/agents', '{"id": "bad-31", "name": '), 'body');
      expectFieldError(await rawPost('/admin/agents', JSON.stringify(agentBody('bad-32')), 'text/plain'), 'body');
      expectFieldError(await post('/admin/agents', [agentBody('bad-33')]), 'body');
      expectFieldError(await post('/admin/agents'), 'id');
      await get('/admin/agents/bad-31').expect(404);
      await get('/admin/agents/bad-32').expect(404);
      expect(auditEvents().filter((e) => e.client_id?.startsWith('bad-'))).toEqual([]);
    });

    it('answers 409 for a taken id, a retired id and the id of a plain OAuth client', async () => {
      await post('/admin/agents', agentBody('dup-agent')).expect(201);
      const again = await post('/admin/agents', agentBody('dup-agent', { name: 'Other' })).expect(409);
      expect(again.body).toEqual({ error: 'conflict', error_description: expect.stringContaining('dup-agent'), field: 'id' });
      expect((await get('/admin/agents/dup-agent').expect(200)).body.name).toBe('Agent dup-agent');

      await post('/admin/agents', agentBody('travel-agent')).expect(409);

      await del('/admin/agents/dup-agent').expect(200);
      const reuse = await post('/admin/agents', agentBody('dup-agent')).expect(409);
      expect(reuse.body).toEqual({ error: 'conflict', error_description: expect.stringMatching(/retired/), field: 'id' });
      expect((await get('/admin/agents/dup-agent').expect(200)).body.status).toBe('retired');

      for (const id of PLAIN_CLIENTS) {
        const res = await post('/admin/agents', agentBody(id)).expect(409);
        expect(res.body).toEqual({ error: 'conflict', error_description: expect.stringContaining(id), field: 'id' });
        await get(`/admin/agents/${id}`).expect(404);
      }
      expect(eventsOf({ type: 'agent.created', client_id: 'dup-agent' })).toHaveLength(1);
    });

    it('creates an agent with public keys: no secret, the defaults filled in, readable as created', async () => {
      const before = Date.now();
      const res = await post('/admin/agents', agentBody('keyed-agent', {
        tier: 1, scopes: ['trips:read', 'mail:read'], audiences: [TRAVEL, MAIL], default_audience: MAIL, max_token_ttl: 120,
        may_delegate_to: ['travel-agent'], expires_at: '2099-01-01T00:00:00Z', require_dpop: true, auth: { method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks' },
      })).expect(201);
      expect(res.body).toEqual({
        id: 'keyed-agent', name: 'Agent keyed-agent', owner: 'alice', tier: 1, scopes: ['trips:read', 'mail:read'], audiences: [TRAVEL, MAIL],
        default_audience: MAIL, max_token_ttl: 120, may_delegate_to: ['travel-agent'], expires_at: '2099-01-01T00:00:00Z', require_dpop: true,
        grant_types: [], auth: { method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks' }, status: 'active', source: 'admin',
        created_at: expect.any(String), updated_at: expect.any(String), review_due: expect.any(String),
      });
      expect(Date.parse(res.body.created_at)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(res.body.review_due) - Date.parse(res.body.created_at)).toBe(DAY_MS);
      expect((await get('/admin/agents/keyed-agent').expect(200)).body).toEqual(res.body);

      const minimal = await post('/admin/agents', { id: 'minimal-agent', name: 'Minimal', owner: 'alice', tier: 3, auth: { method: 'private_key_jwt', jwks: { keys: [] } } }).expect(201);
      expect(minimal.body).toMatchObject({ scopes: [], audiences: [], may_delegate_to: [], require_dpop: false, grant_types: [], status: 'active' });
      expect(minimal.body).not.toHaveProperty('client_secret');
      expect(minimal.body).not.toHaveProperty('default_audience');
    });
  });

  describe('generated client secrets', () => {
    const secretAgent = (id: string, method = 'client_secret_basic'): Body =>
      agentBody(id, { tier: 3, grant_types: ['client_credentials'], auth: { method } });
    const tokenBasic = (id: string, secret: string) =>
      request(t.server).post('/token').auth(id, secret).type('form').send({ grant_type: 'client_credentials', resource: TRAVEL });
    const tokenPost = (id: string, secret: string) =>
      request(t.server).post('/token').type('form').send({ grant_type: 'client_credentials', resource: TRAVEL, client_id: id, client_secret: secret });
    /** Every secret these tests were shown, to look for in logs and the store. */
    const issued: string[] = [];
    const newSecret = (body: { client_secret?: unknown }): string => {
      const secret = body.client_secret;
      if (typeof secret !== 'string') throw new Error('no client_secret in the answer');
      issued.push(secret);
      return secret;
    };

    it('create with client_secret_basic answers a 256-bit secret once, and it works at POST /token', async () => {
      const created = await post('/admin/agents', secretAgent('secret-agent')).expect(201);
      const secret = newSecret(created.body);
      expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
      expect(created.body.auth).toEqual({ method: 'client_secret_basic' });
      expect(JSON.stringify(created.body)).not.toContain('secret_digest');

      const token = await tokenBasic('secret-agent', secret).expect(200);
      expect(token.body).toMatchObject({ token_type: 'Bearer', scope: 'trips:read', access_token: expect.any(String) });
      const wrong = await tokenBasic('secret-agent', randomBytes(32).toString('base64url')).expect(401);
      expect(wrong.body.error).toBe('invalid_client');

      const later = [
        await get('/admin/agents/secret-agent').expect(200),
        await get('/admin/agents', { limit: '200' }).expect(200),
        await get('/admin/agents', { owner: 'alice', tier: '3', limit: '200' }).expect(200),
        await get('/admin/reviews', { limit: '200' }).expect(200),
        await patch('/admin/agents/secret-agent', { name: 'Secret agent' }).expect(200),
        await post('/admin/agents/secret-agent/review', {}).expect(200),
      ];
      expect(later[0]!.body.auth).toEqual({ method: 'client_secret_basic' });
      expect(later[1]!.body.items.map((a: { id: string }) => a.id)).toContain('secret-agent');
      for (const res of later) {
        expect(res.text).not.toContain(secret);
        expect(res.text).not.toContain('secret_digest');
        expect(res.text).not.toContain('sha256:');
        expect(res.body).not.toHaveProperty('client_secret');
      }
    });

    it('rotating answers a new secret; it works and the old one gets 401 invalid_client', async () => {
      const first = newSecret((await post('/admin/agents', secretAgent('rotating-agent')).expect(201)).body);
      await tokenBasic('rotating-agent', first).expect(200);

      const rotated = await post('/admin/agents/rotating-agent/secret', {}).expect(200);
      const second = newSecret(rotated.body);
      expect(second).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(second).not.toBe(first);
      expect(rotated.body).toMatchObject({ id: 'rotating-agent', auth: { method: 'client_secret_basic' } });
      await tokenBasic('rotating-agent', second).expect(200);
      const old = await tokenBasic('rotating-agent', first).expect(401);
      expect(old.body.error).toBe('invalid_client');

      // Switching the method: client_secret_post from now on.
      const switched = await post('/admin/agents/rotating-agent/secret', { method: 'client_secret_post' }).expect(200);
      const third = newSecret(switched.body);
      expect(switched.body.auth).toEqual({ method: 'client_secret_post' });
      await tokenPost('rotating-agent', third).expect(200);
      expect((await tokenPost('rotating-agent', second).expect(401)).body.error).toBe('invalid_client');

      const read = await get('/admin/agents/rotating-agent').expect(200);
      for (const secret of [first, second, third]) expect(read.text).not.toContain(secret);
      expect(read.text).not.toContain('secret_digest');
      expect(eventsOf({ type: 'agent.changed', client_id: 'rotating-agent', reason: 'secret rotated' })).toHaveLength(2);

      // Bad input: an unknown method, an unknown field, an agent that uses keys and names no method, no such agent.
      expectFieldError(await post('/admin/agents/rotating-agent/secret', { method: 'private_key_jwt' }), 'method');
      expectFieldError(await post('/admin/agents/rotating-agent/secret', { secret: 'my-own-secret' }), 'secret');
      await post('/admin/agents', agentBody('keys-then-secret')).expect(201);
      expectFieldError(await post('/admin/agents/keys-then-secret/secret', {}), 'method');
      const toSecret = await post('/admin/agents/keys-then-secret/secret', { method: 'client_secret_basic' }).expect(200);
      expect(toSecret.body.auth).toEqual({ method: 'client_secret_basic' });
      newSecret(toSecret.body);
      await post('/admin/agents/no-such-agent/secret', {}).expect(404);
    });

    it('a suspended or retired agent\'s secret is refused at /token', async () => {
      const secret = newSecret((await post('/admin/agents', secretAgent('lifecycle-secret')).expect(201)).body);
      await tokenBasic('lifecycle-secret', secret).expect(200);
      await patch('/admin/agents/lifecycle-secret', { status: 'suspended' }).expect(200);
      expect((await tokenBasic('lifecycle-secret', secret).expect(401)).body.error).toBe('invalid_client');
      await patch('/admin/agents/lifecycle-secret', { status: 'active' }).expect(200);
      await tokenBasic('lifecycle-secret', secret).expect(200);
      await del('/admin/agents/lifecycle-secret').expect(200);
      expect((await tokenBasic('lifecycle-secret', secret).expect(401)).body.error).toBe('invalid_client');
      // Retiring drops the digest for good.
      const record = await t.governance.registry.agent('lifecycle-secret');
      expect(JSON.stringify(record)).not.toContain('secret_digest');
    });

    it('secrets are in no log line and not stored in plain text: only a sha256 digest', async () => {
      const secret = newSecret((await post('/admin/agents', secretAgent('stored-secret', 'client_secret_post')).expect(201)).body);
      await tokenPost('stored-secret', secret).expect(200);
      expect(issued.length).toBeGreaterThanOrEqual(6);

      const logs = t.logs.join('\n');
      expect(logs).toContain('stored-secret');
      for (const s of issued) expect(logs).not.toContain(s);
      expect(logs).not.toContain('secret_digest');

      const record = await t.governance.registry.agent('stored-secret');
      expect(record?.auth).toEqual({ method: 'client_secret_post', secret_digest: expect.stringMatching(/^sha256:[A-Za-z0-9_-]{43}$/) });
      const digest = (record!.auth as { secret_digest: string }).secret_digest;
      expect(digest).not.toBe(secret);
      expect(digest).not.toContain(secret);

      if (kind === 'redis') {
        const everything = await redisDump(testRedisUrl(), prefix!);
        expect(everything.length).toBeGreaterThan(10);
        // The scan does see the records: the digest is there…
        expect(everything.some((v) => v.includes(digest))).toBe(true);
        // …and no secret is, in any key or value.
        for (const s of issued) expect(everything.filter((v) => v.includes(s))).toEqual([]);
      }
    });
  });

  describe('listing agents', () => {
    beforeAll(async () => {
      await post('/admin/users', { id: 'lister', name: 'Lister' }).expect(201);
      for (const [id, tier] of [['list-1', 1], ['list-2', 2], ['list-3', 3], ['list-4', 2]] as const) {
        await post('/admin/agents', agentBody(id, { owner: 'lister', tier })).expect(201);
      }
      await patch('/admin/agents/list-4', { status: 'suspended' }).expect(200);
      await post('/admin/agents', agentBody('list-5', { tier: 1 })).expect(201);
    });

    const ids = (res: request.Response): string[] => (res.body.items as { id: string }[]).map((a) => a.id);

    it('filters by owner, tier and status, alone and together', async () => {
      expect(ids(await get('/admin/agents', { owner: 'lister' }).expect(200))).toEqual(['list-1', 'list-2', 'list-3', 'list-4']);
      expect(ids(await get('/admin/agents', { owner: 'lister', tier: '2' }).expect(200))).toEqual(['list-2', 'list-4']);
      expect(ids(await get('/admin/agents', { owner: 'lister', status: 'suspended' }).expect(200))).toEqual(['list-4']);
      expect(ids(await get('/admin/agents', { owner: 'lister', tier: '2', status: 'active' }).expect(200))).toEqual(['list-2']);
      expect(ids(await get('/admin/agents', { owner: 'nobody' }).expect(200))).toEqual([]);

      const tier1 = await get('/admin/agents', { tier: '1', limit: '200' }).expect(200);
      expect(ids(tier1)).toEqual(expect.arrayContaining(['list-1', 'list-5']));
      expect(tier1.body.items.every((a: { tier: number }) => a.tier === 1)).toBe(true);
      const suspended = await get('/admin/agents', { status: 'suspended', limit: '200' }).expect(200);
      expect(ids(suspended)).toContain('list-4');
      expect(suspended.body.items.every((a: { status: string }) => a.status === 'suspended')).toBe(true);
      const byAlice = await get('/admin/agents', { owner: 'alice', limit: '200' }).expect(200);
      expect(ids(byAlice)).toEqual(expect.arrayContaining(['travel-agent', 'list-5']));
      expect(ids(byAlice)).not.toContain('list-1');
      expect(byAlice.body.items.every((a: { owner: string }) => a.owner === 'alice')).toBe(true);
    });

    it('pages with limit=1 through every agent via next_cursor, without duplicates, ending with null', async () => {
      const all = ids(await get('/admin/agents', { limit: '200' }).expect(200));
      expect(all.length).toBeGreaterThanOrEqual(6);
      const { ids: walked, pages } = await walk('/admin/agents', {}, 1);
      expect(new Set(walked).size).toBe(walked.length);
      expect(walked).toEqual(all);
      expect(pages).toBeGreaterThanOrEqual(all.length);

      const filtered = await walk('/admin/agents', { owner: 'lister' }, 1);
      expect(filtered.ids).toEqual(['list-1', 'list-2', 'list-3', 'list-4']);
      const two = await walk('/admin/agents', { owner: 'lister' }, 2);
      expect(two.ids).toEqual(['list-1', 'list-2', 'list-3', 'list-4']);

      const first = await get('/admin/agents', { owner: 'lister', limit: '1' }).expect(200);
      expect(first.body).toEqual({ items: [expect.objectContaining({ id: 'list-1' })], next_cursor: expect.any(String) });
      const last = await get('/admin/agents', { owner: 'lister', limit: '10' }).expect(200);
      expect(last.body.next_cursor).toBeNull();
    });

    it('refuses bad queries with 400 naming the parameter', async () => {
      for (const [query, field] of [
        [{ limit: '0' }, 'limit'], [{ limit: '201' }, 'limit'], [{ limit: 'ten' }, 'limit'], [{ limit: '1.5' }, 'limit'],
        [{ tier: '4' }, 'tier'], [{ tier: 'high' }, 'tier'], [{ status: 'gone' }, 'status'], [{ status: 'retired ' }, 'status'],
        [{ owner: 'not an id' }, 'owner'], [{ cursor: '!!' }, 'cursor'], [{ colour: 'red' }, 'colour'],
      ] as [Record<string, string>, string][]) {
        expectFieldError(await get('/admin/agents', query), field);
      }
      expectFieldError(await request(t.server).get('/admin/agents?owner=a&owner=b').set(bearer), 'owner');
    });
  });

  describe('changing agents', () => {
    it('PATCH {status:"suspended"} then {status:"active"} suspends and resumes, each an audit event', async () => {
      await post('/admin/agents', agentBody('pausable')).expect(201);
      const rid = `req-${randomUUID()}`;
      const suspended = await patch('/admin/agents/pausable', { status: 'suspended' }).set('x-request-id', rid).expect(200);
      expect(suspended.body).toMatchObject({ id: 'pausable', status: 'suspended', status_reason: 'admin' });
      expect((await get('/admin/agents/pausable').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'admin' });
      expect(eventsOf({ type: 'agent.suspended', client_id: 'pausable' })).toEqual([expect.objectContaining({ outcome: 'success', request_id: rid, reason: 'admin' })]);

      // Suspending again changes nothing and records nothing.
      await patch('/admin/agents/pausable', { status: 'suspended' }).expect(200);
      expect(eventsOf({ type: 'agent.suspended', client_id: 'pausable' })).toHaveLength(1);

      const resumed = await patch('/admin/agents/pausable', { status: 'active' }).expect(200);
      expect(resumed.body.status).toBe('active');
      expect(resumed.body).not.toHaveProperty('status_reason');
      expect(eventsOf({ type: 'agent.resumed', client_id: 'pausable' })).toHaveLength(1);
      expect(eventsOf({ type: 'agent.changed', client_id: 'pausable' })).toEqual([]);
    });

    it('PATCH {status:"retired"} is 400 (retire with DELETE), and changes nothing', async () => {
      await post('/admin/agents', agentBody('not-retired-by-patch')).expect(201);
      const before = (await get('/admin/agents/not-retired-by-patch').expect(200)).body;
      expectFieldError(await patch('/admin/agents/not-retired-by-patch', { status: 'retired' }), 'status');
      expectFieldError(await patch('/admin/agents/not-retired-by-patch', { status: 'deleted' }), 'status');
      expect((await get('/admin/agents/not-retired-by-patch').expect(200)).body).toEqual(before);
    });

    it('PATCH changes fields with the same checks as create, null clears, and bad input changes nothing', async () => {
      await post('/admin/agents', agentBody('changeable', { scopes: ['trips:read'], audiences: [TRAVEL] })).expect(201);
      const changed = await patch('/admin/agents/changeable', {
        name: 'Changed', tier: 1, scopes: ['trips:read', 'mail:read'], audiences: [TRAVEL, MAIL], default_audience: MAIL, max_token_ttl: 100, expires_at: '2099-01-01T00:00:00Z',
      }).expect(200);
      expect(changed.body).toMatchObject({ name: 'Changed', tier: 1, scopes: ['trips:read', 'mail:read'], audiences: [TRAVEL, MAIL], default_audience: MAIL, max_token_ttl: 100, expires_at: '2099-01-01T00:00:00Z' });
      expect(eventsOf({ type: 'agent.changed', client_id: 'changeable' })).toEqual([
        expect.objectContaining({ reason: 'audiences default_audience expires_at max_token_ttl name scopes tier' }),
      ]);
      const snapshot = (await get('/admin/agents/changeable').expect(200)).body;
      expect(snapshot).toEqual(changed.body);

      const bad: [Body, string][] = [
        [{ scopes: ['trips:read', 'admin:all'] }, 'scopes[1]'],
        [{ audiences: [TRAVEL, 'https://unregistered.example'] }, 'audiences[1]'],
        [{ audiences: [TRAVEL], scopes: ['trips:read'] }, 'default_audience'],
        [{ owner: 'nobody' }, 'owner'],
        [{ may_delegate_to: ['ghost-agent'] }, 'may_delegate_to[0]'],
        [{ may_delegate_to: ['changeable'] }, 'may_delegate_to[0]'],
        [{ expires_at: '2020-01-01T00:00:00Z' }, 'expires_at'],
        [{ tier: 7 }, 'tier'],
        [{ name: '' }, 'name'],
        [{ id: 'renamed' }, 'id'],
        [{ colour: 'blue' }, 'colour'],
        [{ auth: { method: 'client_secret_basic' } }, 'auth.method'],
        [{ max_token_ttl: 0 }, 'max_token_ttl'],
      ];
      for (const [body, field] of bad) {
        const res = await patch('/admin/agents/changeable', body);
        expect({ body, field: res.body.field as unknown }).toEqual({ body, field });
        expectFieldError(res, field);
      }
      expectFieldError(await request(t.server).patch('/admin/agents/changeable').set(bearer).set('Content-Type', 'application/json').send('{"name":'), 'body');
      expect((await get('/admin/agents/changeable').expect(200)).body).toEqual(snapshot);

      const cleared = await patch('/admin/agents/changeable', { default_audience: null, max_token_ttl: null, expires_at: null }).expect(200);
      for (const key of ['default_audience', 'max_token_ttl', 'expires_at']) expect(cleared.body).not.toHaveProperty(key);
      expect((await get('/admin/agents/changeable').expect(200)).body).toEqual(cleared.body);

      await patch('/admin/agents/no-such-agent', { name: 'X' }).expect(404);
      await get('/admin/agents/no-such-agent').expect(404);
      expectFieldError(await get('/admin/agents/bad%20id'), 'id');
    });

    it('DELETE retires (status retired, retired_at set); a second DELETE is an idempotent 200; a retired agent cannot change', async () => {
      await post('/admin/agents', agentBody('retiree', { auth: { method: 'client_secret_basic' } })).expect(201);
      const rid = `req-${randomUUID()}`;
      const retired = await del('/admin/agents/retiree').set('x-request-id', rid).expect(200);
      expect(retired.body).toMatchObject({ id: 'retiree', status: 'retired', status_reason: 'admin', retired_at: expect.any(String) });
      expect(Date.parse(retired.body.retired_at)).not.toBeNaN();
      expect(JSON.stringify(retired.body)).not.toContain('secret');
      const again = await del('/admin/agents/retiree').expect(200);
      expect(again.body).toEqual(retired.body);
      expect((await get('/admin/agents/retiree').expect(200)).body).toEqual(retired.body);
      expect(eventsOf({ type: 'agent.retired', client_id: 'retiree' })).toEqual([expect.objectContaining({ request_id: rid, outcome: 'success' })]);

      expect((await patch('/admin/agents/retiree', { name: 'Back' }).expect(409)).body).toMatchObject({ error: 'conflict' });
      await patch('/admin/agents/retiree', { status: 'active' }).expect(409);
      await post('/admin/agents/retiree/secret', { method: 'client_secret_basic' }).expect(409);
      await post('/admin/agents/retiree/review', {}).expect(409);
      expect((await get('/admin/agents/retiree').expect(200)).body).toEqual(retired.body);
      expect((await get('/admin/agents', { status: 'retired', limit: '200' }).expect(200)).body.items.map((a: { id: string }) => a.id)).toContain('retiree');

      await del('/admin/agents/no-such-agent').expect(404);
      expectFieldError(await del('/admin/agents/bad%20id'), 'id');
    });
  });

  // ——— users ———

  describe('users', () => {
    it('create (with subjects), read and list', async () => {
      const rid = `req-${randomUUID()}`;
      const created = await post('/admin/users', { id: 'erin', name: 'Erin', email: 'erin@example.com', subjects: [{ iss: IDP, sub: 'erin-1' }] }).set('x-request-id', rid).expect(201);
      expect(created.body).toEqual({
        id: 'erin', name: 'Erin', email: 'erin@example.com', status: 'active', subjects: [{ iss: IDP, sub: 'erin-1' }],
        created_at: expect.any(String), updated_at: expect.any(String), source: 'admin',
      });
      expect((await get('/admin/users/erin').expect(200)).body).toEqual(created.body);
      expect((await t.governance.registry.userBySubject(IDP, 'erin-1'))?.id).toBe('erin');
      const list = await get('/admin/users', { limit: '200' }).expect(200);
      expect(list.body.items).toEqual(expect.arrayContaining([created.body, expect.objectContaining({ id: 'alice', source: 'policy' })]));
      expect(list.body.next_cursor).toBeNull();
      const deactivated = await get('/admin/users', { status: 'deactivated', limit: '200' }).expect(200);
      expect(deactivated.body.items.map((u: { id: string }) => u.id)).not.toContain('erin');
      expect(eventsOf({ type: 'user.created', subject: { iss: t.issuer, sub: 'erin' } })).toEqual([expect.objectContaining({ request_id: rid })]);

      await post('/admin/users', { id: 'frank', name: 'Frank' }).expect(201);
      const { ids } = await walk('/admin/users', {}, 1);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expect.arrayContaining(['alice', 'erin', 'frank']));
    });

    it('refuses bad input with 400 naming the field; a taken id is 409; unknown ids 404', async () => {
      const cases: [Body, string][] = [
        [{ id: 'u-bad', email: 'x@example.com' }, 'name'],
        [{ id: 'u-bad', name: '' }, 'name'],
        [{ name: 'No id' }, 'id'],
        [{ id: 'u bad', name: 'X' }, 'id'],
        [{ id: 'u-bad', name: 'X', email: 'not an address' }, 'email'],
        [{ id: 'u-bad', name: 'X', subjects: [{ iss: 'not a url', sub: 'x' }] }, 'subjects[0].iss'],
        [{ id: 'u-bad', name: 'X', subjects: [{ iss: IDP, sub: '' }] }, 'subjects[0].sub'],
        [{ id: 'u-bad', name: 'X', subjects: [{ iss: IDP, sub: 'x', extra: 1 }] }, 'subjects[0].extra'],
        [{ id: 'u-bad', name: 'X', status: 'suspended' }, 'status'],
        [{ id: 'u-bad', name: 'X', role: 'admin' }, 'role'],
      ];
      for (const [body, field] of cases) expectFieldError(await post('/admin/users', body), field);
      expectFieldError(await rawPost('/admin/users', '{"id":"u-bad",'), 'body');
      await get('/admin/users/u-bad').expect(404);

      await post('/admin/users', { id: 'gina', name: 'Gina' }).expect(201);
      const dup = await post('/admin/users', { id: 'gina', name: 'Other Gina' }).expect(409);
      expect(dup.body).toEqual({ error: 'conflict', error_description: expect.stringContaining('gina'), field: 'id' });
      expect((await get('/admin/users/gina').expect(200)).body.name).toBe('Gina');
      await post('/admin/users', { id: 'alice', name: 'Another Alice' }).expect(409);

      await get('/admin/users/no-such-user').expect(404);
      await patch('/admin/users/no-such-user', { name: 'X' }).expect(404);
      expectFieldError(await get('/admin/users/bad%20id'), 'id');
      expectFieldError(await get('/admin/users', { status: 'suspended' }), 'status');
    });

    it('a subject already mapped to another user is 409, on create and on PATCH; released subjects can be claimed', async () => {
      await post('/admin/users', { id: 'hank', name: 'Hank', subjects: [{ iss: IDP, sub: 'hank-1' }, { iss: IDP, sub: 'hank-2' }] }).expect(201);
      const taken = await post('/admin/users', { id: 'ivy', name: 'Ivy', subjects: [{ iss: IDP, sub: 'ivy-1' }, { iss: IDP, sub: 'hank-2' }] }).expect(409);
      expect(taken.body).toEqual({ error: 'conflict', error_description: expect.stringContaining('hank-2'), field: 'subjects[1]' });
      await get('/admin/users/ivy').expect(404);
      // The refused create claimed nothing: ivy-1 is still free.
      await post('/admin/users', { id: 'ivy', name: 'Ivy', subjects: [{ iss: IDP, sub: 'ivy-1' }] }).expect(201);

      const patchTaken = await patch('/admin/users/ivy', { subjects: [{ iss: IDP, sub: 'ivy-1' }, { iss: IDP, sub: 'hank-1' }] }).expect(409);
      expect(patchTaken.body).toEqual({ error: 'conflict', error_description: expect.stringContaining('hank-1'), field: expect.stringMatching(/^subjects\[\d\]$/) });
      expect((await get('/admin/users/ivy').expect(200)).body.subjects).toEqual([{ iss: IDP, sub: 'ivy-1' }]);
      expect((await t.governance.registry.userBySubject(IDP, 'hank-1'))?.id).toBe('hank');
      expect((await t.governance.registry.userBySubject(IDP, 'ivy-1'))?.id).toBe('ivy');

      // A user may send its own subjects again; dropping one releases it.
      await patch('/admin/users/hank', { subjects: [{ iss: IDP, sub: 'hank-1' }, { iss: IDP, sub: 'hank-2' }] }).expect(200);
      await patch('/admin/users/hank', { subjects: [{ iss: IDP, sub: 'hank-1' }] }).expect(200);
      expect(await t.governance.registry.userBySubject(IDP, 'hank-2')).toBeUndefined();
      const claimed = await patch('/admin/users/ivy', { subjects: [{ iss: IDP, sub: 'ivy-1' }, { iss: IDP, sub: 'hank-2' }] }).expect(200);
      expect(claimed.body.subjects).toEqual([{ iss: IDP, sub: 'ivy-1' }, { iss: IDP, sub: 'hank-2' }]);
      expect((await t.governance.registry.userBySubject(IDP, 'hank-2'))?.id).toBe('ivy');
    });

    it('a 409 for a taken subject on PATCH names that subject\'s place in the request', async () => {
      await post('/admin/users', { id: 'owen', name: 'Owen', subjects: [{ iss: IDP, sub: 'owen-1' }] }).expect(201);
      await post('/admin/users', { id: 'pia', name: 'Pia', subjects: [{ iss: IDP, sub: 'pia-1' }] }).expect(201);
      const res = await patch('/admin/users/pia', { subjects: [{ iss: IDP, sub: 'pia-1' }, { iss: IDP, sub: 'pia-2' }, { iss: IDP, sub: 'owen-1' }] }).expect(409);
      expect(res.body).toEqual({ error: 'conflict', error_description: expect.stringMatching(/^subjects\[2\]: .*owen-1/), field: 'subjects[2]' });
      // Nothing was claimed: pia-2 is still free.
      expect(await t.governance.registry.userBySubject(IDP, 'pia-2')).toBeUndefined();
      await post('/admin/users', { id: 'pia-2-owner', name: 'Q', subjects: [{ iss: IDP, sub: 'pia-2' }] }).expect(201);
    });

    it('a refused duplicate of an existing user leaves that user\'s subjects mapped to it', async () => {
      await post('/admin/users', { id: 'jane', name: 'Jane', subjects: [{ iss: IDP, sub: 'jane-1' }] }).expect(201);
      await post('/admin/users', { id: 'jane', name: 'Jane again', subjects: [{ iss: IDP, sub: 'jane-1' }] }).expect(409);
      expect((await t.governance.registry.userBySubject(IDP, 'jane-1'))?.id).toBe('jane');
      const thief = await post('/admin/users', { id: 'jane-thief', name: 'Thief', subjects: [{ iss: IDP, sub: 'jane-1' }] });
      expect({ status: thief.status, field: thief.body.field as unknown }).toEqual({ status: 409, field: 'subjects[0]' });
    });

    it('PATCH changes name and email (null clears); bad input is 400', async () => {
      await post('/admin/users', { id: 'kim', name: 'Kim', email: 'kim@example.com' }).expect(201);
      const changed = await patch('/admin/users/kim', { name: 'Kim K', email: 'kk@example.com' }).expect(200);
      expect(changed.body).toMatchObject({ id: 'kim', name: 'Kim K', email: 'kk@example.com', status: 'active' });
      const cleared = await patch('/admin/users/kim', { email: null }).expect(200);
      expect(cleared.body).not.toHaveProperty('email');
      expect((await get('/admin/users/kim').expect(200)).body).toEqual(cleared.body);
      for (const [body, field] of [
        [{ status: 'retired' }, 'status'], [{ status: 'suspended' }, 'status'], [{ id: 'kim2' }, 'id'], [{ name: '' }, 'name'],
        [{ email: 'nope' }, 'email'], [{ subjects: [{ iss: IDP }] }, 'subjects[0].sub'], [{ role: 'admin' }, 'role'],
      ] as [Body, string][]) {
        expectFieldError(await patch('/admin/users/kim', body), field);
      }
      expect((await get('/admin/users/kim').expect(200)).body).toEqual(cleared.body);
    });

    it('deactivating a user suspends its active agents (orphaned); reactivating leaves them suspended', async () => {
      await post('/admin/users', { id: 'dan', name: 'Dan' }).expect(201);
      await post('/admin/agents', agentBody('dan-active', { owner: 'dan' })).expect(201);
      await post('/admin/agents', agentBody('dan-paused', { owner: 'dan' })).expect(201);
      await post('/admin/agents', agentBody('dan-retired', { owner: 'dan' })).expect(201);
      await patch('/admin/agents/dan-paused', { status: 'suspended' }).expect(200);
      await del('/admin/agents/dan-retired').expect(200);

      const rid = `req-${randomUUID()}`;
      const off = await patch('/admin/users/dan', { status: 'deactivated' }).set('x-request-id', rid).expect(200);
      expect(off.body).toMatchObject({ id: 'dan', status: 'deactivated' });
      expect((await get('/admin/users/dan').expect(200)).body.status).toBe('deactivated');
      expect((await get('/admin/users', { status: 'deactivated', limit: '200' }).expect(200)).body.items.map((u: { id: string }) => u.id)).toContain('dan');
      expect((await get('/admin/agents/dan-active').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'orphaned' });
      expect((await get('/admin/agents/dan-paused').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'admin' });
      expect((await get('/admin/agents/dan-retired').expect(200)).body.status).toBe('retired');
      expect(eventsOf({ type: 'user.deactivated', subject: { iss: t.issuer, sub: 'dan' } })).toEqual([expect.objectContaining({ request_id: rid })]);
      expect(eventsOf({ type: 'agent.suspended', client_id: 'dan-active' })).toEqual([expect.objectContaining({ reason: 'orphaned', request_id: rid })]);
      expect(eventsOf({ type: 'agent.suspended', client_id: 'dan-paused' })).toHaveLength(1);

      // While the owner is deactivated: no resuming its agents, no new agents for it.
      const resume = await patch('/admin/agents/dan-active', { status: 'active' }).expect(409);
      expect(resume.body).toMatchObject({ error: 'conflict', field: 'status' });
      expectFieldError(await post('/admin/agents', agentBody('dan-new', { owner: 'dan' })), 'owner');
      expectFieldError(await patch('/admin/agents/travel-agent', { owner: 'dan' }), 'owner');

      const on = await patch('/admin/users/dan', { status: 'active' }).expect(200);
      expect(on.body.status).toBe('active');
      expect((await get('/admin/agents/dan-active').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'orphaned' });
      expect((await get('/admin/agents/dan-paused').expect(200)).body).toMatchObject({ status: 'suspended', status_reason: 'admin' });
      const resumed = await patch('/admin/agents/dan-active', { status: 'active' }).expect(200);
      expect(resumed.body.status).toBe('active');
      expect(resumed.body).not.toHaveProperty('status_reason');
    });
  });

  // ——— reviews ———

  describe('reviews', () => {
    const reviews = async (query: Record<string, string>) =>
      (await get('/admin/reviews', { limit: '200', ...query }).expect(200)).body.items as { id: string; overdue: boolean; review_due: string; last_reviewed_at?: string }[];

    it('a new agent is not overdue; its review is due one review interval after creation', async () => {
      const created = (await post('/admin/agents', agentBody('fresh-review')).expect(201)).body;
      expect((await reviews({ overdue: 'true' })).map((r) => r.id)).not.toContain('fresh-review');
      const item = (await reviews({ overdue: 'false' })).find((r) => r.id === 'fresh-review');
      expect(item).toEqual({ id: 'fresh-review', name: 'Agent fresh-review', owner: 'alice', tier: 2, status: 'active', review_due: created.review_due, overdue: false });
      expect(Date.parse(item!.review_due) - Date.parse(created.created_at)).toBe(DAY_MS);
      expect((await reviews({})).map((r) => r.id)).toContain('fresh-review');
    });

    it('overdue=true lists only overdue agents; POST review records it and moves review_due', async () => {
      await post('/admin/agents', agentBody('stale-review')).expect(201);
      await t.governance.registry.update<Record<string, unknown>>('agents', 'stale-review', (r) => ({ ...r, created_at: '2020-01-01T00:00:00.000Z' }));

      const overdue = await reviews({ overdue: 'true' });
      expect(overdue.find((r) => r.id === 'stale-review')).toMatchObject({ overdue: true, review_due: '2020-01-02T00:00:00.000Z' });
      expect(overdue.every((r) => r.overdue && Date.parse(r.review_due) <= Date.now())).toBe(true);
      expect((await reviews({ overdue: 'true' })).map((r) => r.id)).not.toContain('fresh-review');
      expect((await reviews({ overdue: 'false' })).map((r) => r.id)).not.toContain('stale-review');
      expect((await reviews({ overdue: 'false' })).every((r) => !r.overdue)).toBe(true);
      expect((await get('/admin/agents/stale-review').expect(200)).body.review_due).toBe('2020-01-02T00:00:00.000Z');

      const before = Date.now();
      const rid = `req-${randomUUID()}`;
      const reviewed = await post('/admin/agents/stale-review/review', { reviewer: 'alice' }).set('x-request-id', rid).expect(200);
      const after = Date.now();
      expect(reviewed.body).toMatchObject({ id: 'stale-review', last_reviewed_by: 'alice', status: 'active' });
      const at = Date.parse(reviewed.body.last_reviewed_at);
      expect(at).toBeGreaterThanOrEqual(before - 1000);
      expect(at).toBeLessThanOrEqual(after + 1000);
      expect(Date.parse(reviewed.body.review_due)).toBe(at + DAY_MS);
      expect((await get('/admin/agents/stale-review').expect(200)).body).toEqual(reviewed.body);
      expect((await reviews({ overdue: 'true' })).map((r) => r.id)).not.toContain('stale-review');
      expect((await reviews({ overdue: 'false' })).find((r) => r.id === 'stale-review'))
        .toMatchObject({ overdue: false, last_reviewed_at: reviewed.body.last_reviewed_at, review_due: reviewed.body.review_due });
      expect(eventsOf({ type: 'agent.reviewed', client_id: 'stale-review' })).toEqual([expect.objectContaining({ approver: 'alice', request_id: rid })]);

      // A review without a reviewer is fine too.
      const anonymous = await post('/admin/agents/stale-review/review').expect(200);
      expect(Date.parse(anonymous.body.last_reviewed_at)).toBeGreaterThanOrEqual(at);
    });

    it('bad reviews are 400 or 404; retired agents are not listed; bad filters are 400', async () => {
      await post('/admin/agents', agentBody('review-retiree')).expect(201);
      expectFieldError(await post('/admin/agents/review-retiree/review', { reviewer: 'nobody' }), 'reviewer');
      expectFieldError(await post('/admin/agents/review-retiree/review', { reviewer: 5 }), 'reviewer');
      expectFieldError(await post('/admin/agents/review-retiree/review', { reviewer: 'alice', note: 'ok' }), 'note');
      expect((await get('/admin/agents/review-retiree').expect(200)).body).not.toHaveProperty('last_reviewed_at');
      await post('/admin/agents/no-such-agent/review', {}).expect(404);

      await del('/admin/agents/review-retiree').expect(200);
      expect((await reviews({})).map((r) => r.id)).not.toContain('review-retiree');
      for (const [query, field] of [[{ overdue: 'yes' }, 'overdue'], [{ overdue: '1' }, 'overdue'], [{ limit: '0' }, 'limit'], [{ owner: 'alice' }, 'owner']] as [Record<string, string>, string][]) {
        expectFieldError(await get('/admin/reviews', query), field);
      }
    });
  });

  // ——— delegations ———

  describe('delegations', () => {
    const delegation = (extra: Body = {}): Body => JSON.parse(JSON.stringify({ user: 'alice', agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL], ...extra })) as Body;

    it('create for a user or for a subject, then read', async () => {
      const rid = `req-${randomUUID()}`;
      const forUser = await post('/admin/delegations', delegation({ expires_at: '2099-01-01T00:00:00Z' })).set('x-request-id', rid).expect(201);
      expect(forUser.body).toEqual({
        id: expect.stringMatching(/^dlg_[A-Za-z0-9_-]+$/), user: 'alice', agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL],
        expires_at: '2099-01-01T00:00:00Z', status: 'active', created_at: expect.any(String), updated_at: expect.any(String), source: 'admin',
      });
      expect((await get(`/admin/delegations/${forUser.body.id}`).expect(200)).body).toEqual(forUser.body);
      expect(eventsOf({ type: 'delegation.created', delegation_id: forUser.body.id })).toEqual([
        expect.objectContaining({ client_id: 'travel-agent', subject: { iss: t.issuer, sub: 'alice' }, scope: 'trips:read', request_id: rid }),
      ]);

      const forSubject = await post('/admin/delegations', delegation({ user: undefined, subject: { iss: IDP, sub: 'service-9' }, id: 'dlg-subject' })).expect(201);
      expect(forSubject.body).toMatchObject({ id: 'dlg-subject', subject: { iss: IDP, sub: 'service-9' }, agent: 'travel-agent', status: 'active' });
      expect(forSubject.body).not.toHaveProperty('user');
      expect((await get('/admin/delegations/dlg-subject').expect(200)).body).toEqual(forSubject.body);
      expect(eventsOf({ type: 'delegation.created', delegation_id: 'dlg-subject' })).toEqual([expect.objectContaining({ subject: { iss: IDP, sub: 'service-9' } })]);

      const other = await post('/admin/delegations', delegation()).expect(201);
      expect(other.body.id).not.toBe(forUser.body.id);
    });

    it('refuses bad input with 400 (naming the field) and a taken id with 409', async () => {
      await post('/admin/agents', agentBody('dlg-retired-agent')).expect(201);
      await del('/admin/agents/dlg-retired-agent').expect(200);

      const neither = await post('/admin/delegations', delegation({ user: undefined, id: 'dlg-bad-1' })).expect(400);
      expect(neither.body).toMatchObject({ error: 'invalid_request', field: expect.any(String), error_description: expect.stringMatching(/user.*subject/) });
      const both = await post('/admin/delegations', delegation({ subject: { iss: IDP, sub: 'x' }, id: 'dlg-bad-2' })).expect(400);
      expect(both.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/user.*subject/) });

      const cases: [Body, string][] = [
        [delegation({ agent: 'ghost-agent', id: 'dlg-bad-3' }), 'agent'],
        [delegation({ agent: 'dlg-retired-agent', id: 'dlg-bad-4' }), 'agent'],
        [delegation({ agent: undefined, id: 'dlg-bad-5' }), 'agent'],
        [delegation({ user: 'nobody', id: 'dlg-bad-6' }), 'user'],
        [delegation({ scopes: ['mail:read'], id: 'dlg-bad-7' }), 'scopes[0]'],
        [delegation({ scopes: [], id: 'dlg-bad-8' }), 'scopes'],
        [delegation({ audiences: ['https://unregistered.example'], id: 'dlg-bad-9' }), 'audiences[0]'],
        [delegation({ audiences: [], id: 'dlg-bad-10' }), 'audiences'],
        [delegation({ expires_at: '2020-01-01T00:00:00Z', id: 'dlg-bad-11' }), 'expires_at'],
        [delegation({ note: 'hi', id: 'dlg-bad-12' }), 'note'],
        [delegation({ user: undefined, subject: { iss: 'not a url', sub: 'x' }, id: 'dlg-bad-13' }), 'subject.iss'],
        [delegation({ id: 'bad id' }), 'id'],
      ];
      for (const [body, field] of cases) expectFieldError(await post('/admin/delegations', body), field);
      expectFieldError(await rawPost('/admin/delegations', '{"user":"alice"'), 'body');
      for (let i = 1; i <= 13; i += 1) await get(`/admin/delegations/dlg-bad-${i}`).expect(404);
      expect(auditEvents().filter((e) => e.delegation_id?.startsWith('dlg-bad-'))).toEqual([]);

      await post('/admin/delegations', delegation({ id: 'dlg-taken' })).expect(201);
      const dup = await post('/admin/delegations', delegation({ id: 'dlg-taken', scopes: ['trips:book'] })).expect(409);
      expect(dup.body).toMatchObject({ error: 'conflict', field: 'id' });
      expect((await get('/admin/delegations/dlg-taken').expect(200)).body.scopes).toEqual(['trips:read']);
    });

    it('list with filters (agent, user, status) and paging', async () => {
      await post('/admin/users', { id: 'leo', name: 'Leo' }).expect(201);
      await post('/admin/agents', agentBody('dl-agent', { scopes: ['trips:read', 'mail:read'], audiences: [TRAVEL, MAIL] })).expect(201);
      await post('/admin/delegations', delegation({ id: 'dl-a', agent: 'dl-agent' })).expect(201);
      await post('/admin/delegations', delegation({ id: 'dl-b', agent: 'dl-agent', user: 'leo', scopes: ['mail:read'], audiences: [MAIL] })).expect(201);
      await post('/admin/delegations', delegation({ id: 'dl-c', user: 'leo' })).expect(201);
      const ids = async (query: Record<string, string>) => (await get('/admin/delegations', { limit: '200', ...query }).expect(200)).body.items.map((d: { id: string }) => d.id) as string[];

      expect(await ids({ agent: 'dl-agent' })).toEqual(['dl-a', 'dl-b']);
      expect(await ids({ agent: 'dl-agent', user: 'alice' })).toEqual(['dl-a']);
      expect(await ids({ user: 'leo' })).toEqual(['dl-b', 'dl-c']);
      await del('/admin/delegations/dl-b').expect(200);
      expect(await ids({ agent: 'dl-agent', status: 'revoked' })).toEqual(['dl-b']);
      expect(await ids({ agent: 'dl-agent', status: 'active' })).toEqual(['dl-a']);
      const revoked = await get('/admin/delegations', { status: 'revoked', limit: '200' }).expect(200);
      expect(revoked.body.items.every((d: { status: string }) => d.status === 'revoked')).toBe(true);

      expect((await walk('/admin/delegations', { agent: 'dl-agent' }, 1)).ids).toEqual(['dl-a', 'dl-b']);
      const all = await walk('/admin/delegations', {}, 1);
      expect(new Set(all.ids).size).toBe(all.ids.length);
      expect(all.ids).toEqual(await ids({}));

      for (const [query, field] of [[{ status: 'expired' }, 'status'], [{ agent: 'bad id' }, 'agent'], [{ user: 'bad id' }, 'user'], [{ subject: 'x' }, 'subject'], [{ limit: '0' }, 'limit']] as [Record<string, string>, string][]) {
        expectFieldError(await get('/admin/delegations', query), field);
      }
    });

    it('DELETE revokes (status revoked) and is idempotent; unknown ids are 404', async () => {
      await post('/admin/delegations', delegation({ id: 'dlg-revoke' })).expect(201);
      const rid = `req-${randomUUID()}`;
      const revoked = await del('/admin/delegations/dlg-revoke').set('x-request-id', rid).expect(200);
      expect(revoked.body).toMatchObject({ id: 'dlg-revoke', status: 'revoked', revoked_at: expect.any(String) });
      expect((await get('/admin/delegations/dlg-revoke').expect(200)).body).toEqual(revoked.body);
      const again = await del('/admin/delegations/dlg-revoke').expect(200);
      expect(again.body).toEqual(revoked.body);
      expect(eventsOf({ type: 'delegation.revoked', delegation_id: 'dlg-revoke' })).toEqual([
        expect.objectContaining({ client_id: 'travel-agent', subject: { iss: t.issuer, sub: 'alice' }, request_id: rid }),
      ]);
      // The id of a revoked delegation stays taken.
      await post('/admin/delegations', delegation({ id: 'dlg-revoke' })).expect(409);

      await get('/admin/delegations/no-such-delegation').expect(404);
      await del('/admin/delegations/no-such-delegation').expect(404);
      expectFieldError(await del('/admin/delegations/bad%20id'), 'id');
      expectFieldError(await get('/admin/delegations/bad%20id'), 'id');
    });
  });

  // ——— audit ———

  it('every audit-worthy change writes an audit event with its request id', async () => {
    const rids: Record<string, string> = {};
    const tagged = <T extends request.Test>(type: string, req: T): T => {
      rids[type] = `req-${randomUUID()}`;
      return req.set('x-request-id', rids[type]!) as T;
    };
    await tagged('user.created', post('/admin/users', { id: 'audit-user', name: 'Audit' })).expect(201);
    await tagged('agent.created', post('/admin/agents', agentBody('audit-agent', { owner: 'audit-user' }))).expect(201);
    await tagged('agent.changed', patch('/admin/agents/audit-agent', { name: 'Audited' })).expect(200);
    await tagged('agent.suspended', patch('/admin/agents/audit-agent', { status: 'suspended' })).expect(200);
    await tagged('agent.resumed', patch('/admin/agents/audit-agent', { status: 'active' })).expect(200);
    const d = await tagged('delegation.created', post('/admin/delegations', { user: 'audit-user', agent: 'audit-agent', scopes: ['trips:read'], audiences: [TRAVEL] })).expect(201);
    await tagged('delegation.revoked', del(`/admin/delegations/${d.body.id}`)).expect(200);
    await tagged('user.deactivated', patch('/admin/users/audit-user', { status: 'deactivated' })).expect(200);
    await tagged('agent.retired', del('/admin/agents/audit-agent')).expect(200);

    const expected: Record<string, Partial<AuditEvent>> = {
      'user.created': { subject: { iss: t.issuer, sub: 'audit-user' } },
      'agent.created': { client_id: 'audit-agent' },
      'agent.changed': { client_id: 'audit-agent', reason: 'name' },
      'agent.suspended': { client_id: 'audit-agent', reason: 'admin' },
      'agent.resumed': { client_id: 'audit-agent' },
      'delegation.created': { delegation_id: d.body.id, client_id: 'audit-agent' },
      'delegation.revoked': { delegation_id: d.body.id, client_id: 'audit-agent' },
      'user.deactivated': { subject: { iss: t.issuer, sub: 'audit-user' } },
      'agent.retired': { client_id: 'audit-agent' },
    };
    for (const [type, fields] of Object.entries(expected)) {
      const found = eventsOf({ type, request_id: rids[type] });
      expect({ type, found }).toEqual({ type, found: [expect.objectContaining({ ...fields, outcome: 'success', id: expect.any(String), time: expect.any(String) })] });
    }
    // The agent was suspended by the deactivation as an orphan: that too is an event.
    expect(eventsOf({ type: 'agent.suspended', client_id: 'audit-agent', request_id: rids['user.deactivated'] })).toEqual([expect.objectContaining({ reason: 'orphaned' })]);

    const types = new Set(auditEvents().map((e) => e.type));
    for (const type of Object.keys(expected)) expect(types).toContain(type);
    // Reads write no events.
    const count = auditEvents().length;
    await get('/admin/agents').expect(200);
    await get('/admin/agents/audit-agent').expect(200);
    await get('/admin/users/audit-user').expect(200);
    await get('/admin/reviews').expect(200);
    expect(auditEvents()).toHaveLength(count);
  });
});

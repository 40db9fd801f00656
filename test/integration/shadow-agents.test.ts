import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, generateKeyPair } from 'jose';
import request from 'supertest';

import { AuditKeys } from '../../src/audit/audit-keys.js';
import { AuditTrail } from '../../src/audit/trail.js';
import { createLogger } from '../../src/log.js';
import { ShadowAgents, type ShadowRecord as ShadowItem } from '../../src/registry/shadow.js';
import { ADMIN_TOKEN, makeStore, secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';
import { exchange, exchangePolicy, makeIdp, TOKEN_EXCHANGE, AT, TRAVEL, type TestIdp } from '../support/exchange.js';

/**
 * Shadow agents (SPEC rule 8, sections 7 and 8): client ids that are unknown, or belong to an agent
 * that may not be used, or appear unregistered in an `act` chain, are refused exactly like a wrong
 * secret, and recorded: GET /admin/shadow-agents, a metric, and (throttled) audit events.
 */

const MANDATE_AUD = 'https://mandate.example';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';


describe.each(STORE_KINDS)('shadow agents (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: kind, policy: exchangePolicy(idp, MANDATE_AUD) });
  });
  afterAll(() => t.close());

  const clientCredentials = (id: string, secret: string) => request(t.server).post('/token').auth(id, secret).type('form')
    .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' });
  const assertion = async (sub: string): Promise<string> => {
    const { privateKey } = await generateKeyPair('ES256');
    return new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(sub).setSubject(sub).setAudience(t.issuer)
      .setJti(crypto.randomUUID()).setIssuedAt().setExpirationTime('1m').sign(privateKey);
  };
  const list = async (): Promise<ShadowItem[]> => {
    const res = await request(t.server).get('/admin/shadow-agents?limit=200').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200);
    expect(res.body.next_cursor).toBeNull();
    return res.body.items as ShadowItem[];
  };
  const sighting = async (id: string): Promise<ShadowItem | undefined> => (await list()).find((item) => item.client_id === id);
  const auditEvents = (type: string, clientId: string): Record<string, unknown>[] => t.logs
    .map((line) => JSON.parse(line) as { audit?: boolean; event?: Record<string, unknown> })
    .filter((line) => line.audit === true && line.event?.type === type && line.event.client_id === clientId)
    .map((line) => line.event!);
  const metric = async (reason: string): Promise<number> => {
    const text = (await request(t.server).get('/metrics').expect(200)).text;
    const match = new RegExp(`^mandate_shadow_agent_sightings_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  };
  /** The answer a real, active agent gets for a wrong secret: every shadow attempt must get exactly this. */
  const wrongSecretAnswer = async () => {
    const res = await clientCredentials('agent-a', 'not-the-secret');
    expect(res.status).toBe(401);
    return res.body as Record<string, unknown>;
  };
  const expectSeen = (item: ShadowItem | undefined, expected: { count: number; endpoints: string[]; reasons: string[] }) => {
    expect(item).toBeDefined();
    expect({ count: item!.count, endpoints: [...item!.endpoints].sort(), reasons: [...item!.reasons].sort() })
      .toEqual({ count: expected.count, endpoints: [...expected.endpoints].sort(), reasons: [...expected.reasons].sort() });
    expect(Date.parse(item!.first_seen)).toBeLessThanOrEqual(Date.parse(item!.last_seen));
    expect(item!.addresses.length).toBeGreaterThan(0);
  };

  it('an unknown id over Basic auth gets the wrong-secret answer every time, and every attempt is counted', async () => {
    const expected = await wrongSecretAnswer();
    expect(expected.error).toBe('invalid_client');
    for (let i = 0; i < 3; i += 1) {
      const res = await clientCredentials('shadow-basic', 'anything');
      expect({ status: res.status, body: res.body }).toEqual({ status: 401, body: expected });
    }
    expectSeen(await sighting('shadow-basic'), { count: 3, endpoints: ['/token'], reasons: ['unknown_agent'] });
  });

  it('an unknown id in a client_secret_post body is counted', async () => {
    const expected = await wrongSecretAnswer();
    for (let i = 0; i < 2; i += 1) {
      const res = await request(t.server).post('/token').type('form')
        .send({ grant_type: 'client_credentials', client_id: 'shadow-post', client_secret: 'anything', resource: TRAVEL });
      expect({ status: res.status, body: res.body }).toEqual({ status: 401, body: expected });
    }
    expectSeen(await sighting('shadow-post'), { count: 2, endpoints: ['/token'], reasons: ['unknown_agent'] });
  });

  it('an unknown id as the sub of a private_key_jwt client assertion is counted', async () => {
    const expected = await wrongSecretAnswer();
    for (let i = 0; i < 2; i += 1) {
      const res = await request(t.server).post('/token').type('form').send({
        grant_type: TOKEN_EXCHANGE, subject_token: await idp.token(), subject_token_type: AT,
        client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion('shadow-jwt'),
      });
      expect({ status: res.status, body: res.body }).toEqual({ status: 401, body: expected });
    }
    expectSeen(await sighting('shadow-jwt'), { count: 2, endpoints: ['/token'], reasons: ['unknown_agent'] });
  });

  it('attempts at the introspection and revocation endpoints add those endpoints', async () => {
    const at = (await clientCredentials('agent-a', secretOf('agent-a')).expect(200)).body.access_token as string;
    await clientCredentials('shadow-ep', 'anything').expect(401);
    const introspection = await request(t.server).post('/token/introspection').auth('shadow-ep', 'anything').type('form').send({ token: at });
    expect({ status: introspection.status, error: introspection.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    const revocation = await request(t.server).post('/token/revocation').auth('shadow-ep', 'anything').type('form').send({ token: at });
    expect({ status: revocation.status, error: revocation.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    expectSeen(await sighting('shadow-ep'), { count: 3, endpoints: ['/token', '/token/introspection', '/token/revocation'], reasons: ['unknown_agent'] });
  });

  it('registered agents that may not be used are listed with why: suspended, retired, expired, orphaned', async () => {
    const expected = await wrongSecretAnswer();
    const cases = [
      ['suspended-agent', 'agent_suspended'], ['retired-agent', 'agent_retired'], ['expired-agent', 'agent_expired'], ['orphan-agent', 'owner_inactive'],
    ] as const;
    for (const [agent, reason] of cases) {
      // With its right secret, by client credentials and by token exchange.
      const cc = await clientCredentials(agent, secretOf(agent));
      const ex = await exchange(t, agent, { subject_token: await idp.token() });
      expect({ agent, cc: { status: cc.status, body: cc.body }, ex: { status: ex.status, body: ex.body } })
        .toEqual({ agent, cc: { status: 401, body: expected }, ex: { status: 401, body: expected } });
      expectSeen(await sighting(agent), { count: 2, endpoints: ['/token'], reasons: [reason] });
    }
  });

  it('an agent suspended through the admin API shows up once it is used', async () => {
    await request(t.server).patch('/admin/agents/short-agent').set('Authorization', `Bearer ${ADMIN_TOKEN}`).send({ status: 'suspended' }).expect(200);
    expect(await sighting('short-agent')).toBeUndefined();
    const res = await exchange(t, 'short-agent', { subject_token: await idp.token() });
    expect(res.status).toBe(401);
    const item = await sighting('short-agent');
    expect(item?.reasons).toContain('agent_suspended');
    expect(auditEvents('agent.blocked', 'short-agent')).toEqual([expect.objectContaining({ outcome: 'failure', reason: 'agent_suspended' })]);
  });

  it('an act chain naming an unregistered agent is listed as unregistered_actor', async () => {
    for (let i = 0; i < 2; i += 1) {
      const res = await exchange(t, 'agent-a', { subject_token: await idp.token({ act: { sub: 'ghost-agent' } }) });
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'invalid_request' });
    }
    const item = await sighting('ghost-agent');
    expect(item).toMatchObject({ client_id: 'ghost-agent', count: 2, endpoints: ['/token'], reasons: ['unregistered_actor'] });
    // The agent that presented the token is not a shadow agent.
    expect(await sighting('agent-a')).toBeUndefined();
    const sighted = auditEvents('shadow_agent.sighted', 'ghost-agent');
    expect(sighted.length).toBeGreaterThanOrEqual(1);
    expect(sighted.length).toBeLessThan(2);
    expect(sighted[0]).toMatchObject({ outcome: 'failure', reason: 'unregistered_actor' });
  });

  it('a wrong secret for an active, registered agent or plain client is not a shadow agent; neither is a good request', async () => {
    await clientCredentials('agent-b', 'not-the-secret').expect(401);
    await clientCredentials('agent-b', 'still-not-the-secret').expect(401);
    await clientCredentials('agent-b', secretOf('agent-b')).expect(200);
    await clientCredentials('travel-app', 'not-the-secret').expect(401);
    const ids = (await list()).map((item) => item.client_id);
    expect(ids).not.toContain('agent-b');
    expect(ids).not.toContain('travel-app');
    // The list is not simply empty: sightings of this suite are in it.
    expect(ids).toContain('shadow-basic');
  });

  it('mandate_shadow_agent_sightings_total counts every sighting by reason', async () => {
    const unknownBefore = await metric('unknown_agent');
    const suspendedBefore = await metric('agent_suspended');
    for (let i = 0; i < 3; i += 1) await clientCredentials('shadow-metric', 'anything').expect(401);
    await clientCredentials('suspended-agent', secretOf('suspended-agent')).expect(401);
    await clientCredentials('agent-a', 'not-the-secret').expect(401);
    expect(await metric('unknown_agent')).toBe(unknownBefore + 3);
    expect(await metric('agent_suspended')).toBe(suspendedBefore + 1);
  });

  it('audit events are written for sightings, but throttled per id and reason', async () => {
    const attempts = 5;
    for (let i = 0; i < attempts; i += 1) await clientCredentials('shadow-audit', 'anything').expect(401);
    const sighted = auditEvents('shadow_agent.sighted', 'shadow-audit');
    expect(sighted.length).toBeGreaterThanOrEqual(1);
    expect(sighted.length).toBeLessThan(attempts);
    expect(sighted[0]).toMatchObject({ type: 'shadow_agent.sighted', outcome: 'failure', reason: 'unknown_agent', client_id: 'shadow-audit' });
    expect((await sighting('shadow-audit'))?.count).toBe(attempts);

    // A known agent that may not be used is "blocked", not "sighted".
    const blocked = auditEvents('agent.blocked', 'retired-agent');
    expect(blocked.length).toBeGreaterThanOrEqual(1);
    expect(blocked.length).toBeLessThan((await sighting('retired-agent'))!.count);
    expect(blocked[0]).toMatchObject({ outcome: 'failure', reason: 'agent_retired' });
    expect(auditEvents('shadow_agent.sighted', 'retired-agent')).toEqual([]);
  });

  it('a very long claimed id is recorded cut to 256 characters', async () => {
    const long = `shadow-long-${'x'.repeat(1000)}`;
    const res = await clientCredentials(long, 'anything');
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error: 'invalid_client' });
    const items = await list();
    expect(items.find((item) => item.client_id === long)).toBeUndefined();
    const item = items.find((i) => i.client_id.startsWith('shadow-long-'));
    expect(item?.client_id).toBe(long.slice(0, 256));
  });

  it('the admin list needs the admin token', async () => {
    await request(t.server).get('/admin/shadow-agents').expect(401);
  });
});

describe.each(STORE_KINDS)('ShadowAgents bounds (%s store)', (kind) => {
  const setup = async () => {
    const store = await makeStore(kind);
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } }));
    const reasons: string[] = [];
    const shadow = new ShadowAgents({ store, audit: new AuditTrail({ store, logger, keys: new AuditKeys([{ kid: 'test', secret: randomBytes(32), created_at: new Date().toISOString() }]) }), logger, maxTracked: 3, onSighting: (reason) => reasons.push(reason) });
    const see = (clientId: string) => shadow.record({ clientId, reason: 'unknown_agent', endpoint: '/token', address: '127.0.0.1' });
    const counts = async () => Object.fromEntries((await shadow.list({ limit: 100 })).items.map((i) => [i.client_id, i.count]));
    return { store, shadow, see, counts, reasons, lines };
  };

  it('tracks at most maxTracked distinct ids; known ones still count up; every sighting reaches the metric hook', async () => {
    const { store, see, counts, reasons } = await setup();
    try {
      for (const id of ['one', 'two', 'three']) await see(id);
      expect(await counts()).toEqual({ one: 1, two: 1, three: 1 });
      await see('four');
      await see('one');
      await see('three');
      await see('four');
      expect(await counts()).toEqual({ one: 2, two: 1, three: 2 });
      expect(reasons).toHaveLength(7);
    } finally {
      await store.close();
    }
  });

  it('cuts ids to 256 characters (so two ids equal in their first 256 are one record)', async () => {
    const { store, see, shadow } = await setup();
    try {
      const base = 'y'.repeat(256);
      await see(`${base}-first`);
      await see(`${base}-second`);
      const { items } = await shadow.list({ limit: 100 });
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ client_id: base, count: 2 });
    } finally {
      await store.close();
    }
  });

  it('keeps at most a bounded number of endpoints and addresses per id', async () => {
    const { store, shadow } = await setup();
    try {
      for (let i = 0; i < 30; i += 1) await shadow.record({ clientId: 'busy', reason: 'unknown_agent', endpoint: `/e${i}`, address: `10.0.0.${i}` });
      const item = (await shadow.list({ limit: 10 })).items[0]!;
      expect(item.count).toBe(30);
      expect(item.endpoints.length).toBeLessThan(30);
      expect(item.addresses.length).toBeLessThan(30);
      // The newest are kept.
      expect(item.endpoints).toContain('/e29');
      expect(item.addresses).toContain('10.0.0.29');
    } finally {
      await store.close();
    }
  });
});

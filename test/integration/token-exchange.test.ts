import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, createRemoteJWKSet, jwtVerify } from 'jose';
import request from 'supertest';

import { TokenRecords } from '../../src/tokens/records.js';
import { secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';
import { dpopProof } from '../support/dpop.js';
import { AT, claimsOf, exchange, exchangePolicy, IDP, JWT, makeIdp, MAIL, TRAVEL, type TestIdp } from '../support/exchange.js';

const MANDATE_AUD = 'https://mandate.example';

describe.each(STORE_KINDS)('token exchange: issuing (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: kind, policy: exchangePolicy(idp, MANDATE_AUD) });
  });
  afterAll(() => t.close());

  const introspect = (token: string) =>
    request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token });

  it('user token from a trusted issuer → agent token a resource server verifies with jose', async () => {
    const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ access_token: expect.any(String), issued_token_type: AT, token_type: 'Bearer', expires_in: 600, scope: 'trips:read' });
    const { payload, protectedHeader } = await jwtVerify(res.body.access_token, createRemoteJWKSet(new URL(`${t.issuer}/jwks`)), {
      issuer: t.issuer, audience: TRAVEL, typ: 'at+jwt', algorithms: ['ES256'],
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: 'alice', client_id: 'agent-a', scope: 'trips:read', act: { sub: 'agent-a' }, aud: TRAVEL });
    expect(payload).not.toHaveProperty('sub_iss');
    expect(payload.exp! - payload.iat!).toBe(600);
  });

  it('no scope requested gives the full intersection; the default audience applies', async () => {
    const res = await exchange(t, 'agent-x', { subject_token: await idp.token() }).expect(200);
    expect(res.body.scope).toBe('trips:read');
    expect(claimsOf(res.body.access_token).aud).toBe(TRAVEL);
  });

  it('requested_token_type jwt is honoured in issued_token_type', async () => {
    const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), requested_token_type: JWT, scope: 'trips:read' }).expect(200);
    expect(res.body.issued_token_type).toBe(JWT);
  });

  it('an external subject without a Mandate user keeps its own sub and names its issuer in sub_iss', async () => {
    const token = await idp.token({ sub: 'svc-123', may_act: { sub: 'agent-x' } });
    const res = await exchange(t, 'agent-x', { subject_token: token }).expect(200);
    expect(claimsOf(res.body.access_token)).toMatchObject({ sub: 'svc-123', sub_iss: IDP });
  });

  it('may_act naming the agent authorizes it without a delegation', async () => {
    const token = await idp.token({ sub: '00u-bob', may_act: { sub: 'agent-b' } });
    const res = await exchange(t, 'agent-b', { subject_token: token, scope: 'trips:read' }).expect(200);
    expect(claimsOf(res.body.access_token)).toMatchObject({ sub: 'bob', act: { sub: 'agent-b' } });
  });

  it('a two-hop chain: A hands the task to B, B exchanges for the resource: act {B, act {A}}', async () => {
    const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
    expect(claimsOf(hop1.body.access_token)).toMatchObject({ aud: 'agent-b', act: { sub: 'agent-a' } });
    const hop2 = await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, resource: TRAVEL }).expect(200);
    const claims = claimsOf(hop2.body.access_token);
    expect(claims).toMatchObject({ sub: 'alice', aud: TRAVEL, client_id: 'agent-b', scope: 'trips:read', act: { sub: 'agent-b', act: { sub: 'agent-a' } } });
    const { body } = await introspect(hop2.body.access_token).expect(200);
    expect(body).toMatchObject({ active: true, sub: 'alice', client_id: 'agent-b', scope: 'trips:read', aud: TRAVEL, act: { sub: 'agent-b', act: { sub: 'agent-a' } } });
    expect(body.exp).toBe(claims.exp);
  });

  it('re-exchange by the same actor keeps the chain as it is', async () => {
    const first = await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200);
    const again = await exchange(t, 'agent-a', { subject_token: first.body.access_token, resource: TRAVEL }).expect(200);
    expect(claimsOf(again.body.access_token).act).toEqual({ sub: 'agent-a' });
  });

  it('an actor_token identifying the authenticated agent is accepted', async () => {
    const own = await request(t.server).post('/token').auth('agent-a', secretOf('agent-a')).type('form')
      .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' }).expect(200);
    await exchange(t, 'agent-a', { subject_token: await idp.token(), actor_token: own.body.access_token, actor_token_type: AT, scope: 'trips:read' }).expect(200);
  });

  it('lifetime is capped by the subject token exp, the agent, the tier and the resource', async () => {
    const now = Math.floor(Date.now() / 1000);
    const soon = await exchange(t, 'agent-a', { subject_token: await idp.token({ exp: now + 90 }), scope: 'trips:read' }).expect(200);
    expect(soon.body.expires_in).toBeLessThanOrEqual(90);
    expect(soon.body.expires_in).toBeGreaterThan(80);
    expect(claimsOf(soon.body.access_token).exp).toBeLessThanOrEqual(now + 90);
    const short = await exchange(t, 'short-agent', { subject_token: await idp.token() }).expect(200);
    expect(short.body.expires_in).toBe(120);
    const mail = await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: MAIL }).expect(200);
    expect(mail.body.expires_in).toBe(300);
  });

  it('carries authorization_details (the task) into the token and introspection', async () => {
    const task = [{ type: 'agent_task', task_id: 'trip-42', description: 'Book Lisbon', amount: { value: '420.00', currency: 'EUR' } }];
    const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read', authorization_details: JSON.stringify(task) }).expect(200);
    expect(claimsOf(res.body.access_token).authorization_details).toEqual(task);
    expect((await introspect(res.body.access_token).expect(200)).body.authorization_details).toEqual(task);
    // Later hops inherit the task.
    const hop = await exchange(t, 'agent-a', { subject_token: res.body.access_token }).expect(200);
    expect(claimsOf(hop.body.access_token).authorization_details).toEqual(task);
  });

  it('revoking a parent kills its children: introspection and a further exchange both fail', async () => {
    const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
    const hop2 = await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, audience: 'agent-c' }).expect(200);
    await request(t.server).post('/token/revocation').auth('agent-a', secretOf('agent-a')).type('form').send({ token: hop1.body.access_token }).expect(200);
    expect((await introspect(hop2.body.access_token).expect(200)).body).toEqual({ active: false });
    const again = await exchange(t, 'agent-c', { subject_token: hop2.body.access_token, resource: TRAVEL }).expect(400);
    expect(again.body).toEqual({ error: 'invalid_request', error_description: 'subject_token has been revoked or is not known' });
    await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, resource: TRAVEL }).expect(400);
  });

  it('a DPoP proof binds the token (cnf.jkt, token_type DPoP); a bound subject needs a proof from the same key', async () => {
    const first = await dpopProof(t.issuer);
    const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }, { DPoP: first.proof }).expect(200);
    expect(res.body.token_type).toBe('DPoP');
    const jkt = await calculateJwkThumbprint(first.jwk);
    expect(claimsOf(res.body.access_token).cnf).toEqual({ jkt });
    expect((await introspect(res.body.access_token).expect(200)).body.token_type).toBe('DPoP');
    const again = await dpopProof(t.issuer, 'POST', first);
    const hop = await exchange(t, 'agent-a', { subject_token: res.body.access_token }, { DPoP: again.proof }).expect(200);
    expect(claimsOf(hop.body.access_token).cnf).toEqual({ jkt });
    // An agent with require_dpop gets a bound token when it sends a proof.
    const required = await exchange(t, 'dpop-agent', { subject_token: await idp.token() }, { DPoP: (await dpopProof(t.issuer)).proof }).expect(200);
    expect(required.body.token_type).toBe('DPoP');
  });

  it('revoking a delegation revokes the tokens issued under it, down the chain', async () => {
    const hop1 = await exchange(t, 'agent-x', { subject_token: await idp.token() }).expect(200);
    const hop2 = await exchange(t, 'agent-x', { subject_token: hop1.body.access_token }).expect(200);
    const revoked = await new TokenRecords(t.store).revokeByDelegation('alice-x');
    expect(revoked).toEqual(expect.arrayContaining([claimsOf(hop1.body.access_token).jti, claimsOf(hop2.body.access_token).jti]));
    for (const token of [hop1.body.access_token, hop2.body.access_token]) {
      expect((await introspect(token).expect(200)).body).toEqual({ active: false });
    }
  });

  it('retiring an agent revokes its tokens and the tokens minted from them', async () => {
    const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
    const hop2 = await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, resource: TRAVEL }).expect(200);
    await new TokenRecords(t.store).revokeByAgent('agent-a');
    expect((await introspect(hop2.body.access_token).expect(200)).body).toEqual({ active: false });
  });

  it('records an audit event for each decision, stored and logged, with the fields of SPEC section 7', async () => {
    const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).set('x-request-id', 'audit-1').expect(200);
    const hop2 = await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, resource: TRAVEL }).set('x-request-id', 'audit-2').expect(200);
    await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, resource: 'https://nowhere.example' }).set('x-request-id', 'audit-3').expect(400);
    const events = t.logs.map((line) => JSON.parse(line) as { audit?: boolean; event?: Record<string, unknown> })
      .filter((l) => l.audit === true).map((l) => l.event!);
    const issued = events.find((e) => e.request_id === 'audit-2')!;
    expect(issued).toEqual({
      id: expect.any(String), time: expect.any(String), type: 'token.issued', outcome: 'success', request_id: 'audit-2',
      subject: { iss: t.issuer, sub: 'alice' }, actors: ['agent-b', 'agent-a'], client_id: 'agent-b', audience: TRAVEL, scope: 'trips:read',
      jti: claimsOf(hop2.body.access_token).jti, parent_jti: claimsOf(hop1.body.access_token).jti, delegation_id: 'alice-a',
    });
    const stored = (await t.audit.list({ limit: 1000 })).items;
    expect(stored.find((e) => e.id === issued.id)).toEqual({ ...issued, trail: { writer: t.audit.writer, position: expect.any(Number) } });
    const refusedEvent = events.find((e) => e.request_id === 'audit-3')!;
    expect(refusedEvent).toMatchObject({ type: 'token.refused', outcome: 'failure', reason: 'invalid_target', client_id: 'agent-b' });
    expect(stored.map((e) => e.id)).toContain(refusedEvent.id);
  });

  it('counts exchanges by outcome in mandate_token_exchanges_total', async () => {
    await exchange(t, 'agent-a', { subject_token: 'nope' }).expect(400);
    const metrics = (await request(t.server).get('/metrics').expect(200)).text;
    expect(metrics).toMatch(/mandate_token_exchanges_total\{outcome="issued"\} [1-9]\d*/);
    expect(metrics).toMatch(/mandate_token_exchanges_total\{outcome="refused"\} [1-9]\d*/);
  });

  it('discovery lists the grant, token types and authorization_details types', async () => {
    const { body } = await request(t.server).get('/.well-known/openid-configuration').expect(200);
    expect(body.grant_types_supported).toEqual(expect.arrayContaining(['urn:ietf:params:oauth:grant-type:token-exchange', 'client_credentials']));
    expect(body.authorization_details_types_supported).toEqual(['agent_task', 'trip_booking']);
  });
});

describe('agent lifecycle at use time', () => {
  it('when an agent expires, its tokens turn inactive at introspection and it can no longer exchange', async () => {
    const idp = await makeIdp(() => MANDATE_AUD);
    const policy = exchangePolicy(idp, MANDATE_AUD);
    const expiresAt = new Date(Date.now() + 2500).toISOString().replace(/\.\d+Z$/, 'Z');
    const briefAgent = { ...policy.agents.find((a) => a.id === 'agent-x')!, id: 'brief-agent', expires_at: expiresAt, auth: { method: 'client_secret_basic', secret_env: 'TEST_BRIEF_AGENT_SECRET' } };
    policy.agents.push(briefAgent);
    policy.delegations.push({ id: 'alice-brief', user: 'alice', agent: 'brief-agent', scopes: ['trips:read'], audiences: [TRAVEL] });
    const t = await startTestApp({ store: 'memory', policy });
    try {
      const res = await exchange(t, 'brief-agent', { subject_token: await idp.token() }).expect(200);
      const introspect = () => request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token: res.body.access_token });
      expect((await introspect().expect(200)).body.active).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 1100));
      expect((await introspect().expect(200)).body).toEqual({ active: false });
      await exchange(t, 'brief-agent', { subject_token: await idp.token() }).expect(401);
    } finally {
      await t.close();
    }
  });
});

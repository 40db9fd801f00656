import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import request from 'supertest';

import { auditTokenKey, tokenKey } from '../../src/store/keys.js';
import { ADMIN_TOKEN, secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';
import { exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';
import { approveWithPasskey, enrollPasskey } from '../support/passkey-approval.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

/**
 * GET /admin/audit/trace/{jti} (SPEC section 7): from a token back through the tokens it was
 * exchanged from to the delegation or approval that allowed it and the human, read from the audit
 * trail, so it answers after the token records are gone and is not fooled by a forged index.
 */

const CIBA = 'urn:openid:params:grant-type:ciba';
const AUTH_REQ_ID = /^(apr_[A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]+)$/;

type Body = Record<string, unknown>;
interface Hop {
  jti: string;
  status: string;
  event_id: string;
  trail: { writer: string; position: number };
  parent?: { jti: string; issuer: string };
  allowed_by: Body;
  [key: string]: unknown;
}
interface Trace {
  token: Hop;
  chain: Hop[];
  origin: Body;
  subject: Body;
}

const traceOf = (t: TestApp, jti: string) => request(t.server).get(`/admin/audit/trace/${jti}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`);
const adminGet = (t: TestApp, path: string) => request(t.server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`);

const poll = (t: TestApp, agent: string, authReqId: string) =>
  request(t.server).post('/token').auth(agent, secretOf(agent)).type('form').send({ grant_type: CIBA, auth_req_id: authReqId });

/** An exchange that must become a pending approval: its id and auth_req_id. */
async function pending(t: TestApp, agent: string, params: Record<string, string>): Promise<{ id: string; authReqId: string }> {
  const res = await exchange(t, agent, params);
  expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'authorization_pending' });
  const match = AUTH_REQ_ID.exec(String(res.body.auth_req_id));
  expect(match).not.toBeNull();
  return { id: match![1]!, authReqId: res.body.auth_req_id as string };
}

describe.each(STORE_KINDS)('audit trace (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  beforeAll(async () => {
    idp = await makeIdp(() => t.issuer);
    t = await startTestApp({ store: kind, policy: (issuer: string) => exchangePolicy(idp, issuer) });
    jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
  });
  afterAll(() => t.close());

  /** A user token from the IdP with its own jti (the external parent of the first hop). */
  const userToken = async (sub = '00u-alice'): Promise<{ token: string; jti: string }> => {
    const jti = `idp-${randomBytes(9).toString('base64url')}`;
    return { token: await idp.token({ sub, jti }), jti };
  };
  /** The jti of an access token, checked as a resource server (or the next agent) would check it. */
  const verifiedJti = async (token: string, audience: string): Promise<string> => {
    const { payload } = await jwtVerify(token, jwks, { issuer: t.issuer, audience, typ: 'at+jwt', algorithms: ['ES256'] });
    expect(payload.jti).toEqual(expect.any(String));
    return payload.jti!;
  };

  describe('a chain user → agent-a → agent-b → resource', () => {
    let user: { token: string; jti: string };
    let hop1: { token: string; jti: string };
    let hop2: { token: string; jti: string };
    beforeAll(async () => {
      user = await userToken();
      const first = await exchange(t, 'agent-a', { subject_token: user.token, audience: 'agent-b', scope: 'trips:read' }).expect(200);
      const second = await exchange(t, 'agent-b', { subject_token: first.body.access_token, resource: TRAVEL }).expect(200);
      hop1 = { token: first.body.access_token, jti: await verifiedJti(first.body.access_token, 'agent-b') };
      hop2 = { token: second.body.access_token, jti: await verifiedJti(second.body.access_token, TRAVEL) };
    });

    it('names the last hop, the hop before it, the delegation alice gave and alice herself', async () => {
      const { body } = await traceOf(t, hop2.jti).expect(200) as { body: Trace };
      const expectedHop2 = {
        jti: hop2.jti, issued_at: expect.any(String), client_id: 'agent-b', actors: ['agent-b', 'agent-a'], audience: TRAVEL, scope: 'trips:read',
        status: 'active', parent: { jti: hop1.jti, issuer: 'mandate' }, allowed_by: { type: 'delegation', id: 'alice-a' },
        event_id: expect.any(String), trail: { writer: t.audit.writer, position: expect.any(Number) },
      };
      const expectedHop1 = {
        jti: hop1.jti, issued_at: expect.any(String), client_id: 'agent-a', actors: ['agent-a'], audience: 'agent-b', scope: 'trips:read',
        status: 'active', parent: { jti: user.jti, issuer: 'external' }, allowed_by: { type: 'delegation', id: 'alice-a' },
        event_id: expect.any(String), trail: { writer: t.audit.writer, position: expect.any(Number) },
      };
      expect(body.token).toEqual(expectedHop2);
      expect(body.chain).toEqual([expectedHop2, expectedHop1]);
      expect(body.origin).toMatchObject({
        type: 'delegation', id: 'alice-a', user: 'alice', agent: 'agent-a', scopes: ['trips:read', 'trips:book', 'mail:read'], status: 'active', source: 'policy',
      });
      expect(body.subject).toEqual({ iss: t.issuer, sub: 'alice', user: { id: 'alice', name: 'Alice', status: 'active' } });

      // Each hop points at the token.issued event the trail holds for it, at the place the trail says.
      for (const hop of body.chain) {
        const event = await t.audit.tokenEvent(hop.jti);
        expect(event).toMatchObject({ id: hop.event_id, type: 'token.issued', jti: hop.jti, trail: hop.trail });
      }
      expect(body.chain[1]!.trail.position).toBeLessThan(body.chain[0]!.trail.position);
      // The first hop's parent is the IdP token, as its jti says.
      expect(decodeJwt(user.token).jti).toBe(body.chain[1]!.parent!.jti);
      // Tracing the first hop starts there.
      const fromHop1 = (await traceOf(t, hop1.jti).expect(200)).body as Trace;
      expect(fromHop1.chain).toEqual([expectedHop1]);
      expect(fromHop1.token).toEqual(expectedHop1);
    });

    it('after agent-a revokes its token (RFC 7009), both hops show revoked', async () => {
      await request(t.server).post('/token/revocation').auth('agent-a', secretOf('agent-a')).type('form').send({ token: hop1.token }).expect(200);
      const { body } = await traceOf(t, hop2.jti).expect(200) as { body: Trace };
      expect(body.chain.map((h) => [h.jti, h.status])).toEqual([[hop2.jti, 'revoked'], [hop1.jti, 'revoked']]);
      expect(body.token.status).toBe('revoked');
      expect(body.origin).toMatchObject({ type: 'delegation', id: 'alice-a' });
    });

    it('still answers from the trail once the token records are gone', async () => {
      const before = (await traceOf(t, hop2.jti).expect(200)).body as Trace;
      expect(await t.store.delete(tokenKey(hop1.jti), tokenKey(hop2.jti))).toBe(2);
      expect(await t.store.get(tokenKey(hop2.jti))).toBeNull();
      const { body } = await traceOf(t, hop2.jti).expect(200) as { body: Trace };
      // Without a record, a token is reported as gone (expired), everything else is as before.
      const withoutStatus = (trace: Trace) => ({ ...trace, token: { ...trace.token, status: undefined }, chain: trace.chain.map((h) => ({ ...h, status: undefined })) });
      expect(withoutStatus(body)).toEqual(withoutStatus(before));
      expect(body.chain.map((h) => h.status)).toEqual(['expired', 'expired']);
      expect(body.chain.map((h) => h.jti)).toEqual([hop2.jti, hop1.jti]);
      expect(body.subject).toEqual({ iss: t.issuer, sub: 'alice', user: { id: 'alice', name: 'Alice', status: 'active' } });
    });
  });

  describe('approvals as the origin', () => {
    let alice: SoftAuthenticator;
    let bob: SoftAuthenticator;
    beforeAll(async () => {
      alice = new SoftAuthenticator({ origin: t.issuer });
      bob = new SoftAuthenticator({ origin: t.issuer });
      await enrollPasskey(t, 'alice', alice);
      await enrollPasskey(t, 'bob', bob);
    });

    it('consent: the approval bob gave is the origin of its token and of tokens under the delegation it created', async () => {
      const bobToken = await userToken('00u-bob');
      const { id, authReqId } = await pending(t, 'agent-a', { subject_token: bobToken.token, resource: TRAVEL, scope: 'trips:read' });
      await approveWithPasskey(t, id, bob);
      const consentToken = (await poll(t, 'agent-a', authReqId).expect(200)).body.access_token as string;
      const consentJti = await verifiedJti(consentToken, TRAVEL);

      const direct = await traceOf(t, consentJti).expect(200);
      const trace = direct.body as Trace;
      expect(trace.chain).toHaveLength(1);
      expect(trace.token).toMatchObject({
        jti: consentJti, client_id: 'agent-a', actors: ['agent-a'], audience: TRAVEL, scope: 'trips:read', status: 'active',
        allowed_by: { type: 'approval', id, approver: 'bob' }, parent: { jti: bobToken.jti, issuer: 'external' },
      });
      expect(trace.origin).toMatchObject({ type: 'approval', id, approver: 'bob', reason: 'consent', consent: true, decided_at: expect.any(String) });
      expect(trace.subject).toEqual({ iss: t.issuer, sub: 'bob', user: { id: 'bob', name: 'Bob', status: 'active' } });

      // The next exchange needs nobody: the consent delegation allows it, and the trace leads back to bob's approval.
      const delegationId = `dlg_consent_${id.slice(4)}`;
      const later = await exchange(t, 'agent-a', { subject_token: (await userToken('00u-bob')).token, resource: TRAVEL, scope: 'trips:read' }).expect(200);
      const laterTrace = (await traceOf(t, await verifiedJti(later.body.access_token as string, TRAVEL)).expect(200)).body as Trace;
      expect(laterTrace.token.allowed_by).toEqual({ type: 'delegation', id: delegationId });
      expect(laterTrace.origin).toMatchObject({
        type: 'approval', id, approver: 'bob', consent: true,
        delegation: { id: delegationId, user: 'bob', agent: 'agent-a', scopes: ['trips:read'], audiences: [TRAVEL], source: 'approval', status: 'active' },
      });
    });

    it('high risk: each hop approved by alice names its own approval; the origin is the first', async () => {
      const first = await pending(t, 'tier2-agent', { subject_token: (await userToken()).token, resource: TRAVEL, scope: 'trips:book' });
      await approveWithPasskey(t, first.id, alice);
      const token1 = (await poll(t, 'tier2-agent', first.authReqId).expect(200)).body.access_token as string;
      const second = await pending(t, 'tier2-agent', { subject_token: token1, resource: TRAVEL, scope: 'trips:book' });
      expect(second.id).not.toBe(first.id);
      await approveWithPasskey(t, second.id, alice);
      const token2 = (await poll(t, 'tier2-agent', second.authReqId).expect(200)).body.access_token as string;
      const [jti1, jti2] = [await verifiedJti(token1, TRAVEL), await verifiedJti(token2, TRAVEL)];

      const trace = (await traceOf(t, jti2).expect(200)).body as Trace;
      expect(trace.chain.map((h) => h.jti)).toEqual([jti2, jti1]);
      expect(trace.chain.map((h) => h.allowed_by)).toEqual([
        { type: 'approval', id: second.id, approver: 'alice' },
        { type: 'approval', id: first.id, approver: 'alice' },
      ]);
      expect(trace.chain[0]).toMatchObject({ parent: { jti: jti1, issuer: 'mandate' }, scope: 'trips:book', client_id: 'tier2-agent' });
      expect(trace.origin).toMatchObject({ type: 'approval', id: first.id, approver: 'alice', reason: 'high_risk_scope', consent: false });
      expect(trace.subject).toMatchObject({ iss: t.issuer, sub: 'alice', user: { id: 'alice', status: 'active' } });
    });
  });

  describe('refusals and forged pointers', () => {
    it('404 for a jti the trail does not know, 400 for a malformed one', async () => {
      const unknown = randomBytes(18).toString('base64url');
      expect((await traceOf(t, unknown).expect(404)).body).toEqual({ error: 'not_found', error_description: expect.stringContaining(unknown) });
      for (const bad of ['a.b', 'x'.repeat(129), '%20jti', 'j%2Fti']) {
        const res = await traceOf(t, bad);
        expect({ bad, status: res.status, error: res.body.error, field: res.body.field }).toEqual({ bad, status: 400, error: 'invalid_request', field: 'jti' });
      }
    });

    it('401 without the admin token or with a wrong one', async () => {
      const { jti } = await (async () => {
        const res = await exchange(t, 'agent-a', { subject_token: (await userToken()).token, resource: TRAVEL, scope: 'trips:read' }).expect(200);
        return { jti: decodeJwt(res.body.access_token as string).jti! };
      })();
      await traceOf(t, jti).expect(200);
      const none = await request(t.server).get(`/admin/audit/trace/${jti}`).expect(401);
      expect(none.body).toEqual({ error: 'unauthorized' });
      await request(t.server).get(`/admin/audit/trace/${jti}`).set('Authorization', `Bearer ${ADMIN_TOKEN}x`).expect(401);
    });

    it('a forged index entry does not make the trace answer with another token', async () => {
      const a = await exchange(t, 'agent-a', { subject_token: (await userToken()).token, resource: TRAVEL, scope: 'trips:read' }).expect(200);
      const jtiA = decodeJwt(a.body.access_token as string).jti!;
      const eventA = await t.audit.tokenEvent(jtiA);
      expect(eventA).toBeDefined();
      const pointerA = `${eventA!.trail.writer} ${eventA!.trail.position}`;
      expect(await t.store.get(auditTokenKey(jtiA))).toBe(pointerA);

      // An unknown jti pointed at A's event.
      const forged = randomBytes(18).toString('base64url');
      await t.store.set(auditTokenKey(forged), pointerA, { ttlSeconds: 600 });
      await traceOf(t, forged).expect(404);

      // A real token's index redirected to A's event: not A's trace.
      const c = await exchange(t, 'agent-a', { subject_token: (await userToken()).token, resource: TRAVEL, scope: 'trips:read' }).expect(200);
      const jtiC = decodeJwt(c.body.access_token as string).jti!;
      expect(((await traceOf(t, jtiC).expect(200)).body as Trace).token.jti).toBe(jtiC);
      await t.store.set(auditTokenKey(jtiC), pointerA, { ttlSeconds: 600 });
      const redirected = await traceOf(t, jtiC);
      expect(redirected.status).toBe(404);
      expect(JSON.stringify(redirected.body)).not.toContain(jtiA);

      // A's index pointed at another event about A (its revocation): not a token.issued event.
      await request(t.server).post('/token/revocation').auth('agent-a', secretOf('agent-a')).type('form').send({ token: a.body.access_token }).expect(200);
      const revoked = (await adminGet(t, `/admin/audit?jti=${jtiA}&type=token.revoked`).expect(200)).body.items as { trail: { writer: string; position: number } }[];
      expect(revoked).toHaveLength(1);
      await t.store.set(auditTokenKey(jtiA), `${revoked[0]!.trail.writer} ${revoked[0]!.trail.position}`, { ttlSeconds: 600 });
      await traceOf(t, jtiA).expect(404);

      // A pointer past the end of the chain or at a writer that does not exist.
      await t.store.set(auditTokenKey(jtiA), `${eventA!.trail.writer} 999999`, { ttlSeconds: 600 });
      await traceOf(t, jtiA).expect(404);
      await t.store.set(auditTokenKey(jtiA), `w000000000000 ${eventA!.trail.position}`, { ttlSeconds: 600 });
      await traceOf(t, jtiA).expect(404);

      // Put back, the true pointer answers again: the 404s came from the forgery.
      await t.store.set(auditTokenKey(jtiA), pointerA, { ttlSeconds: 600 });
      expect(((await traceOf(t, jtiA).expect(200)).body as Trace).token).toMatchObject({ jti: jtiA, status: 'revoked' });
    });
  });
});

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint } from 'jose';
import request from 'supertest';

import { approvalKey } from '../../src/store/keys.js';
import { ADMIN_TOKEN, secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';
import { dpopProof } from '../support/dpop.js';
import { AT, claimsOf, exchange, exchangePolicy, IDP, makeIdp, MAIL, TRAVEL, type TestIdp } from '../support/exchange.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

/**
 * Human approvals end to end over HTTP (SPEC section 6): token exchanges that become approval
 * requests, the CIBA backchannel endpoint, the approver's passkey on the approval page (a real
 * WebAuthn assertion from the SoftAuthenticator), polling the token endpoint, consent
 * delegations, DPoP binding, the webhook and the audit trail.
 */

const CIBA = 'urn:openid:params:grant-type:ciba';
const INTERNAL_BACKCHANNEL = 'urn:mandate:internal:backchannel-authentication';
const AUTH_REQ_ID = /^(apr_[A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]+)$/;
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
const APPROVAL_TTL = 600;

type Body = Record<string, unknown>;
interface AuditEvent {
  type: string;
  outcome: string;
  approval_id?: string;
  jti?: string;
  delegation_id?: string;
  approver?: string;
  client_id?: string;
}
interface Pending {
  id: string;
  authReqId: string;
  body: Body;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true (a bounded wait for something asynchronous, not a timing assertion). */
async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const asAdmin = (t: TestApp) => ({
  get: (path: string) => request(t.server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
  post: (path: string, body: Body) => request(t.server).post(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
  delete: (path: string) => request(t.server).delete(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
});

/** Registers a passkey for `userId` through an admin enrollment link, as the enrollment page would. */
async function enroll(t: TestApp, userId: string, authenticator: SoftAuthenticator, secrets: string[]): Promise<string> {
  const link = await asAdmin(t).post(`/admin/users/${userId}/enrollments`, {}).expect(201);
  const url = new URL(link.body.url as string);
  expect(url.origin).toBe(t.issuer);
  const token = url.pathname.split('/').pop()!;
  secrets.push(token);
  const options = await request(t.server).post(`/enroll/${token}/options`).send({}).expect(200);
  const credential = authenticator.register(options.body);
  const done = await request(t.server).post(`/enroll/${token}`).send({ credential }).expect(200);
  expect(done.body).toEqual({ status: 'registered', passkey: { id: credential.id, created_at: expect.any(String) } });
  return credential.id;
}

/** Approves or denies on the approval page's JSON endpoints with the approver's passkey. */
async function decide(t: TestApp, id: string, action: 'approve' | 'deny', authenticator: SoftAuthenticator): Promise<Body> {
  const options = await request(t.server).post(`/approvals/${id}/options`).send({ action }).expect(200);
  const credential = authenticator.assert(options.body);
  const res = await request(t.server).post(`/approvals/${id}/decision`).send({ action, credential });
  expect(res.status).toBe(200);
  return res.body as Body;
}

function poll(t: TestApp, agent: string, authReqId: string, headers: Record<string, string> = {}) {
  const req = request(t.server).post('/token').auth(agent, secretOf(agent)).type('form');
  for (const [name, value] of Object.entries(headers)) req.set(name, value);
  return req.send({ grant_type: CIBA, auth_req_id: authReqId });
}

function backchannel(t: TestApp, agent: string, params: Record<string, string>, secret = secretOf(agent)) {
  return request(t.server).post('/backchannel').auth(agent, secret).type('form').send(new URLSearchParams(params).toString());
}

const introspect = (t: TestApp, token: string) =>
  request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token });

/** The audit events logged so far (JSON log lines with `"audit": true`), optionally for one approval. */
function auditEvents(t: TestApp, approvalId?: string): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (const line of t.logs) {
    const parsed = JSON.parse(line) as { audit?: boolean; event?: AuditEvent };
    if (parsed.audit === true && parsed.event && (approvalId === undefined || parsed.event.approval_id === approvalId)) events.push(parsed.event);
  }
  return events;
}

/** Splits a pending answer, checking its shape; records the secret half. */
function pendingOf(status: number, body: Body, secrets: string[], expectedStatus = 400): Pending {
  expect({ status, error: body.error }).toEqual({ status: expectedStatus, error: expectedStatus === 400 ? 'authorization_pending' : undefined });
  const match = AUTH_REQ_ID.exec(String(body.auth_req_id));
  expect(match).not.toBeNull();
  secrets.push(match![2]!);
  return { id: match![1]!, authReqId: body.auth_req_id as string, body };
}

const textOf = (html: string, selector: 'data-status' | 'data-binding-message'): string | undefined => {
  const match = new RegExp(`<[a-z]+ ${selector}>([^<]*)</`).exec(html);
  return match?.[1];
};

describe.each(STORE_KINDS)('human approvals over HTTP (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  let alice: SoftAuthenticator;
  const secrets: string[] = [];

  beforeAll(async () => {
    idp = await makeIdp(() => t.issuer);
    t = await startTestApp({ store: kind, policy: (issuer: string) => exchangePolicy(idp, issuer) });
    alice = new SoftAuthenticator({ origin: t.issuer });
    await enroll(t, 'alice', alice, secrets);
  });
  afterAll(() => t.close());

  const pendingExchange = async (agent: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Pending> => {
    const res = await exchange(t, agent, params, headers);
    return pendingOf(res.status, res.body as Body, secrets);
  };
  const aliceToken = (claims: Body = {}) => idp.token(claims);

  describe('a token exchange that needs a human becomes a pending approval request', () => {
    it('tier-1 agent: 400 authorization_pending with auth_req_id, expires_in, interval and approval_uri', async () => {
      const res = await exchange(t, 'tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      expect(res.status).toBe(400);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({
        error: 'authorization_pending', error_description: expect.stringContaining('alice'),
        auth_req_id: expect.stringMatching(AUTH_REQ_ID), expires_in: APPROVAL_TTL, interval: 1, approval_uri: expect.any(String),
      });
      const { id } = pendingOf(res.status, res.body as Body, secrets);
      expect(res.body.approval_uri).toBe(`${t.issuer}/approvals/${id}`);
      const approval = (await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body;
      expect(approval).toMatchObject({
        id, status: 'pending', reason: 'tier_always', consent: false, approval_uri: `${t.issuer}/approvals/${id}`,
        agent: { id: 'tier1-agent', owner: 'alice', tier: 1 }, approver: 'alice', subject: { iss: t.issuer, sub: 'alice' },
        scopes: ['trips:read'], audience: TRAVEL,
      });
      // The admin view never shows the secret half or the issuance plan.
      expect(JSON.stringify(approval)).not.toContain(res.body.auth_req_id.split('.')[1]);
    });

    it('tier-2 agent: a high-risk scope needs an approval, a low-risk one is issued directly', async () => {
      const risky = await pendingExchange('tier2-agent', { subject_token: await aliceToken(), scope: 'trips:book' });
      expect((await asAdmin(t).get(`/admin/approvals/${risky.id}`).expect(200)).body).toMatchObject({ reason: 'high_risk_scope', scopes: ['trips:book'] });
      const direct = await exchange(t, 'tier2-agent', { subject_token: await aliceToken(), scope: 'trips:read' }).expect(200);
      expect(direct.body).toMatchObject({ scope: 'trips:read', token_type: 'Bearer' });
      expect(claimsOf(direct.body.access_token)).not.toHaveProperty('approval_id');
    });

    it('an approver without a passkey: 400 invalid_request naming the missing passkey; no request is created', async () => {
      const admin = asAdmin(t);
      await admin.post('/admin/users', { id: 'erin', name: 'Erin', subjects: [{ iss: IDP, sub: '00u-erin' }] }).expect(201);
      await admin.post('/admin/delegations', { user: 'erin', agent: 'tier1-agent', scopes: ['trips:read'], audiences: [TRAVEL] }).expect(201);
      const res = await exchange(t, 'tier1-agent', { subject_token: await idp.token({ sub: '00u-erin' }), scope: 'trips:read' }).expect(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('has no passkey') });
      const cibaRes = await backchannel(t, 'agent-a', { login_hint: 'erin', scope: 'trips:read' }).expect(400);
      expect(cibaRes.body).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('has no passkey') });
      expect((await admin.get('/admin/approvals?user=erin').expect(200)).body.items).toEqual([]);
    });

    it('an external subject that is not a Mandate user cannot approve: 400 invalid_request', async () => {
      const token = await idp.token({ sub: 'svc-123', may_act: { sub: 'tier1-agent' } });
      const res = await exchange(t, 'tier1-agent', { subject_token: token, scope: 'trips:read' }).expect(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('not a Mandate user') });
      expect(res.body).not.toHaveProperty('auth_req_id');
    });
  });

  describe('polling the token endpoint', () => {
    it('authorization_pending, then slow_down when polled again within the interval', async () => {
      const { authReqId } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      const first = await poll(t, 'tier1-agent', authReqId).expect(400);
      expect(first.body).toEqual({ error: 'authorization_pending', error_description: expect.any(String) });
      const second = await poll(t, 'tier1-agent', authReqId).expect(400);
      expect(second.body).toEqual({ error: 'slow_down', error_description: expect.any(String) });
    });

    it('invalid_grant for a malformed or unknown auth_req_id, a wrong secret half or another agent; invalid_request without one', async () => {
      const { id, authReqId } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      const secret = authReqId.split('.')[1]!;
      const otherSecret = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
      for (const bad of ['garbage', `${id}`, `${id}.${secret}.extra`, `apr_AAAAAAAAAAAAAAAAAAAAAA.${secret}`, `${id}.${otherSecret}`, `${id}.`]) {
        const res = await poll(t, 'tier1-agent', bad).expect(400);
        expect([bad, res.body.error]).toEqual([bad, 'invalid_grant']);
      }
      const other = await poll(t, 'agent-a', authReqId).expect(400);
      expect(other.body.error).toBe('invalid_grant');
      const missing = await request(t.server).post('/token').auth('tier1-agent', secretOf('tier1-agent')).type('form').send({ grant_type: CIBA }).expect(400);
      expect(missing.body.error).toBe('invalid_request');
      // None of these counted as a poll of the real request, and none decided it.
      expect((await poll(t, 'tier1-agent', authReqId).expect(400)).body.error).toBe('authorization_pending');
    });

    it('access_denied after the approver denies; the page shows denied; approval.denied is a failure', async () => {
      const { id, authReqId } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      expect(await decide(t, id, 'deny', alice)).toEqual({ status: 'denied' });
      const res = await poll(t, 'tier1-agent', authReqId).expect(400);
      expect(res.body).toEqual({ error: 'access_denied', error_description: expect.any(String) });
      // A decision is final.
      const again = await request(t.server).post(`/approvals/${id}/options`).send({ action: 'approve' }).expect(409);
      expect(again.body.error).toBe('conflict');
      const page = await request(t.server).get(`/approvals/${id}`).expect(200);
      expect(textOf(page.text, 'data-status')).toBe('denied');
      expect(page.text).not.toContain('data-action="approve"');
      const denied = auditEvents(t, id).filter((e) => e.type === 'approval.denied');
      expect(denied).toEqual([expect.objectContaining({ type: 'approval.denied', outcome: 'failure', approval_id: id, approver: 'alice' })]);
      expect(auditEvents(t, id).map((e) => e.type)).not.toContain('token.issued');
    });

    it('expired_token after the approval window; the page shows expired; approval.expired is recorded exactly once', async () => {
      const { id, authReqId } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      const record = JSON.parse((await t.store.get(approvalKey(id)))!) as Body;
      await t.store.set(approvalKey(id), JSON.stringify({ ...record, expires_at: Math.floor(Date.now() / 1000) - 5 }), { ttlSeconds: 3600 });

      for (let i = 0; i < 3; i += 1) {
        const res = await poll(t, 'tier1-agent', authReqId).expect(400);
        expect(res.body).toEqual({ error: 'expired_token', error_description: expect.any(String) });
      }
      const page = await request(t.server).get(`/approvals/${id}`).expect(200);
      expect(textOf(page.text, 'data-status')).toBe('expired');
      expect(page.text).not.toContain('data-action="approve"');
      expect(page.text).not.toContain('data-action="deny"');
      const late = await request(t.server).post(`/approvals/${id}/options`).send({ action: 'approve' }).expect(409);
      expect(late.body.error).toBe('expired');
      await t.approvals.sweepExpired();
      await poll(t, 'tier1-agent', authReqId).expect(400);
      await request(t.server).get(`/approvals/${id}`).expect(200);
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body.status).toBe('expired');

      const expired = () => auditEvents(t, id).filter((e) => e.type === 'approval.expired');
      await waitFor(() => expired().length > 0, 'approval.expired');
      expect(expired()).toEqual([expect.objectContaining({ type: 'approval.expired', outcome: 'failure', approval_id: id })]);
      // A further sweep finds nothing left to record for it.
      await t.approvals.sweepExpired();
      expect(expired()).toHaveLength(1);
    });
  });

  describe('approve and redeem', () => {
    it('the token carries the approval; the trail is requested → approved → token.issued → redeemed; a second poll is invalid_grant', async () => {
      const { id, authReqId } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      const page = await request(t.server).get(`/approvals/${id}`).expect(200);
      expect(textOf(page.text, 'data-status')).toBe('pending');
      expect(page.text).toContain('data-action="approve"');
      expect(page.text).toMatch(/data-field="agent"><strong>tier1-agent<\/strong>/);

      expect(await decide(t, id, 'approve', alice)).toEqual({ status: 'approved' });
      expect(textOf((await request(t.server).get(`/approvals/${id}`).expect(200)).text, 'data-status')).toBe('approved');
      const res = await poll(t, 'tier1-agent', authReqId).expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({ access_token: expect.any(String), issued_token_type: AT, token_type: 'Bearer', expires_in: expect.any(Number), scope: 'trips:read' });
      const claims = claimsOf(res.body.access_token);
      expect(claims).toMatchObject({
        sub: 'alice', aud: TRAVEL, client_id: 'tier1-agent', scope: 'trips:read', act: { sub: 'tier1-agent' },
        approval_id: id, acr: 'phr', amr: ['hwk', 'user', 'mfa'], auth_time: expect.any(Number),
      });
      expect(claims).not.toHaveProperty('cnf');
      expect((await introspect(t, res.body.access_token).expect(200)).body).toMatchObject({ active: true, sub: 'alice' });

      const twice = await poll(t, 'tier1-agent', authReqId).expect(400);
      expect(twice.body.error).toBe('invalid_grant');
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body).toMatchObject({ status: 'redeemed', jti: claims.jti, redeemed_at: expect.any(String) });

      const trail = auditEvents(t, id);
      expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.approved', 'token.issued', 'approval.redeemed']);
      for (const event of trail) expect(event.approval_id).toBe(id);
      expect(trail[2]).toMatchObject({ outcome: 'success', jti: claims.jti, client_id: 'tier1-agent' });
      expect(trail[3]).toMatchObject({ outcome: 'success', jti: claims.jti });
    });

    it('a Mandate-issued subject token revoked before redemption: the poll is refused and the approval stays approved', async () => {
      const first = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      await decide(t, first.id, 'approve', alice);
      const subjectToken = (await poll(t, 'tier1-agent', first.authReqId).expect(200)).body.access_token as string;
      // Re-exchange by the same tier-1 agent: a new approval, with the Mandate token as subject.
      const second = await pendingExchange('tier1-agent', { subject_token: subjectToken });
      await request(t.server).post('/token/revocation').auth('tier1-agent', secretOf('tier1-agent')).type('form').send({ token: subjectToken }).expect(200);
      await decide(t, second.id, 'approve', alice);
      for (let i = 0; i < 2; i += 1) {
        const res = await poll(t, 'tier1-agent', second.authReqId).expect(400);
        expect(res.body).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('revoked') });
      }
      expect((await asAdmin(t).get(`/admin/approvals/${second.id}`).expect(200)).body.status).toBe('approved');
      expect(auditEvents(t, second.id).map((e) => e.type)).not.toContain('token.issued');
    });
  });

  describe('consent: an agent without a delegation asks the user', () => {
    it('creates a delegation on approval, then exchanges need no approval; revoking it revokes the tokens', async () => {
      const bobToken = () => idp.token({ sub: '00u-bob' });
      const params = async () => ({ subject_token: await bobToken(), resource: TRAVEL, scope: 'trips:read' });

      // Without a passkey, bob cannot be asked: the missing delegation is the refusal.
      const refused = await exchange(t, 'agent-a', await params()).expect(400);
      expect(refused.body).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('no delegation') });

      const bob = new SoftAuthenticator({ origin: t.issuer });
      await enroll(t, 'bob', bob, secrets);
      const { id, authReqId } = await pendingExchange('agent-a', await params());
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body).toMatchObject({ reason: 'consent', consent: true, approver: 'bob', agent: { id: 'agent-a' } });
      // Alice's passkey is not bob's: the options list only bob's passkeys.
      const options = await request(t.server).post(`/approvals/${id}/options`).send({ action: 'approve' }).expect(200);
      expect(options.body.allowCredentials.map((c: { id: string }) => c.id)).toEqual([bob.credentials[0]!.id]);
      expect(options.body.userVerification).toBe('required');

      expect(await decide(t, id, 'approve', bob)).toEqual({ status: 'approved' });
      const delegationId = `dlg_consent_${id.slice(4)}`;
      const res = await poll(t, 'agent-a', authReqId).expect(200);
      const consentToken = res.body.access_token as string;
      expect(claimsOf(consentToken)).toMatchObject({ sub: 'bob', act: { sub: 'agent-a' }, approval_id: id, scope: 'trips:read' });

      const delegation = (await asAdmin(t).get(`/admin/delegations/${delegationId}`).expect(200)).body;
      expect(delegation).toMatchObject({
        id: delegationId, user: 'bob', agent: 'agent-a', scopes: ['trips:read'], audiences: [TRAVEL], status: 'active',
        source: 'approval', approval_id: id, expires_at: expect.any(String),
      });
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body.delegation_id).toBe(delegationId);
      expect(auditEvents(t, id).filter((e) => e.type === 'delegation.created')).toEqual([
        expect.objectContaining({ delegation_id: delegationId, approval_id: id, approver: 'bob' }),
      ]);

      // The next exchange for the same scope needs nobody.
      const direct = await exchange(t, 'agent-a', await params()).expect(200);
      expect(claimsOf(direct.body.access_token)).toMatchObject({ sub: 'bob', act: { sub: 'agent-a' } });
      expect(claimsOf(direct.body.access_token)).not.toHaveProperty('approval_id');
      expect((await introspect(t, consentToken).expect(200)).body.active).toBe(true);

      expect((await asAdmin(t).delete(`/admin/delegations/${delegationId}`).expect(200)).body.status).toBe('revoked');
      expect((await introspect(t, consentToken).expect(200)).body).toEqual({ active: false });
      expect((await introspect(t, direct.body.access_token).expect(200)).body).toEqual({ active: false });
    });
  });

  describe('CIBA backchannel authentication', () => {
    it('200 with auth_req_id; the approver sees the binding message; the poll gets a token for the user', async () => {
      const res = await backchannel(t, 'agent-a', { login_hint: 'alice', scope: 'trips:read', resource: TRAVEL, binding_message: 'W-7Q2 Lisbon' }).expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toEqual({ auth_req_id: expect.stringMatching(AUTH_REQ_ID), expires_in: APPROVAL_TTL, interval: 1, approval_uri: expect.any(String) });
      const { id, authReqId } = pendingOf(200, res.body as Body, secrets, 200);
      expect(res.body.approval_uri).toBe(`${t.issuer}/approvals/${id}`);
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body).toMatchObject({ reason: 'ciba', binding_message: 'W-7Q2 Lisbon', approver: 'alice' });

      const page = await request(t.server).get(`/approvals/${id}`).expect(200);
      expect(textOf(page.text, 'data-binding-message')).toBe('W-7Q2 Lisbon');
      expect((await poll(t, 'agent-a', authReqId).expect(400)).body.error).toBe('authorization_pending');

      await decide(t, id, 'approve', alice);
      const token = await poll(t, 'agent-a', authReqId).expect(200);
      expect(token.body).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'trips:read' });
      expect(claimsOf(token.body.access_token)).toMatchObject({ sub: 'alice', aud: TRAVEL, act: { sub: 'agent-a' }, approval_id: id, acr: 'phr' });
    });

    it('requested_expiry shortens the request', async () => {
      const res = await backchannel(t, 'agent-a', { login_hint: 'alice', scope: 'trips:read', requested_expiry: '60' }).expect(200);
      expect(res.body.expires_in).toBe(60);
      pendingOf(200, res.body as Body, secrets, 200);
    });

    it('refuses bad requests, each with its status and error code', async () => {
      const ok = { login_hint: 'alice', scope: 'trips:read' };
      const cases: [string, string, Record<string, string>, number, string, string?][] = [
        ['missing login_hint', 'agent-a', { scope: 'trips:read' }, 400, 'invalid_request'],
        ['unknown user', 'agent-a', { ...ok, login_hint: 'nobody' }, 400, 'unknown_user_id'],
        ['deactivated user', 'agent-a', { ...ok, login_hint: 'carol' }, 400, 'unknown_user_id'],
        ['missing scope', 'agent-a', { login_hint: 'alice' }, 400, 'invalid_request'],
        ['scope outside the agent', 'agent-a', { ...ok, scope: 'trips:cancel' }, 400, 'invalid_scope'],
        ['control character in binding_message', 'agent-a', { ...ok, binding_message: 'code\u0007' }, 400, 'invalid_binding_message'],
        ['newline in binding_message', 'agent-a', { ...ok, binding_message: 'two\nlines' }, 400, 'invalid_binding_message'],
        ['101-character binding_message', 'agent-a', { ...ok, binding_message: 'x'.repeat(101) }, 400, 'invalid_binding_message'],
        ['requested_expiry 0', 'agent-a', { ...ok, requested_expiry: '0' }, 400, 'invalid_request'],
        ['requested_expiry 999999', 'agent-a', { ...ok, requested_expiry: '999999' }, 400, 'invalid_request'],
        ['requested_expiry abc', 'agent-a', { ...ok, requested_expiry: 'abc' }, 400, 'invalid_request'],
        ['login_hint_token', 'agent-a', { ...ok, login_hint_token: 'eyJ.x.y' }, 400, 'invalid_request'],
        ['id_token_hint', 'agent-a', { ...ok, id_token_hint: 'eyJ.x.y' }, 400, 'invalid_request'],
        ['grant_type in the body', 'agent-a', { ...ok, grant_type: CIBA }, 400, 'invalid_request'],
        ['a plain client', 'travel-app', ok, 400, 'unauthorized_client'],
        ['a wrong secret', 'agent-a', ok, 401, 'invalid_client', 'not-the-secret'],
      ];
      for (const [what, agent, params, status, error, secret] of cases) {
        const res = await backchannel(t, agent, params, secret ?? secretOf(agent));
        expect({ what, status: res.status, error: res.body.error }).toEqual({ what, status, error });
        expect(res.body).not.toHaveProperty('auth_req_id');
      }
      // A 100-character message is fine.
      const longest = await backchannel(t, 'agent-a', { ...ok, binding_message: 'x'.repeat(100) }).expect(200);
      pendingOf(200, longest.body as Body, secrets, 200);
      // The endpoint takes form posts only.
      await request(t.server).post('/backchannel').auth('agent-a', secretOf('agent-a')).send(ok).expect(400);
      await request(t.server).get('/backchannel').expect(405);
    });

    it('the access log and the request metrics name /backchannel, not the token endpoint it reuses', async () => {
      const requestId = `bc-${kind}-path`;
      await backchannel(t, 'agent-a', { login_hint: 'alice', scope: 'trips:read' }).set('x-request-id', requestId).expect(200);
      const access = t.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((l) => l.msg === 'request' && l.request_id === requestId);
      expect(access).toMatchObject({ path: '/backchannel', status: 200 });
      const metrics = (await request(t.server).get('/metrics').expect(200)).text;
      expect(metrics).toMatch(/mandate_http_requests_total\{route="backchannel",method="POST",status="200"\} [1-9]/);
    });

    it('the internal grant behind /backchannel is refused at /token and is not published', async () => {
      const res = await request(t.server).post('/token').auth('agent-a', secretOf('agent-a')).type('form')
        .send({ grant_type: INTERNAL_BACKCHANNEL, login_hint: 'alice', scope: 'trips:read' }).expect(400);
      expect(res.body.error).toBe('unsupported_grant_type');
      expect(res.body).not.toHaveProperty('auth_req_id');

      const discovery = (await request(t.server).get('/.well-known/openid-configuration').expect(200)).body;
      expect(discovery).toMatchObject({
        backchannel_authentication_endpoint: `${t.issuer}/backchannel`,
        backchannel_token_delivery_modes_supported: ['poll'],
      });
      expect(discovery.grant_types_supported).toContain(CIBA);
      expect(discovery.grant_types_supported).not.toContain(INTERNAL_BACKCHANNEL);
    });
  });

  describe('DPoP', () => {
    it('a request made with a proof is bound: the poll needs a proof from the same key', async () => {
      const key = await dpopProof(t.issuer);
      const { id, authReqId } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' }, { DPoP: key.proof });
      await decide(t, id, 'approve', alice);

      const bare = await poll(t, 'tier1-agent', authReqId).expect(400);
      expect(bare.body.error).toBe('invalid_dpop_proof');
      const stranger = await poll(t, 'tier1-agent', authReqId, { DPoP: (await dpopProof(t.issuer)).proof }).expect(400);
      expect(stranger.body.error).toBe('invalid_dpop_proof');
      // The failed polls did not use the approval up.
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body.status).toBe('approved');

      const res = await poll(t, 'tier1-agent', authReqId, { DPoP: (await dpopProof(t.issuer, 'POST', key)).proof }).expect(200);
      expect(res.body.token_type).toBe('DPoP');
      expect(claimsOf(res.body.access_token).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.jwk) });
    });
  });

  describe('pages', () => {
    it('an unknown approval id is a 404 page', async () => {
      for (const id of ['apr_AAAAAAAAAAAAAAAAAAAAAA', 'not-an-approval']) {
        const res = await request(t.server).get(`/approvals/${id}`).expect(404);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        expect(textOf(res.text, 'data-status')).toMatch(/^error: /);
      }
      const options = await request(t.server).post('/approvals/apr_AAAAAAAAAAAAAAAAAAAAAA/options').send({ action: 'approve' }).expect(404);
      expect(options.body.error).toBe('not_found');
    });

    it('escapes what the agent sent, shows amounts as money, and sends the page security headers', async () => {
      const details = [{ type: 'trip_booking', destination: '<script>alert(1)</script>', price: { amount: '420.00', currency: 'EUR' } }];
      const { id } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read', authorization_details: JSON.stringify(details) });
      const page = await request(t.server).get(`/approvals/${id}`).expect(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toBe(PAGE_CSP);
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(page.text).not.toContain('<script>alert');
      expect(page.text).toContain('€420.00');
      // The only script is the page's own file.
      expect(page.text.match(/<script\b[^>]*>/g)).toEqual(['<script src="/assets/mandate.js" defer>']);

      const script = await request(t.server).get('/assets/mandate.js').expect(200);
      expect(script.headers['content-type']).toMatch(/^(application|text)\/javascript/);
      expect(script.text.length).toBeGreaterThan(0);
      const style = await request(t.server).get('/assets/mandate.css').expect(200);
      expect(style.headers['content-type']).toMatch(/^text\/css/);
    });

    it('the JSON endpoints refuse other content types (415) and foreign origins (403)', async () => {
      const { id } = await pendingExchange('tier1-agent', { subject_token: await aliceToken(), scope: 'trips:read' });
      const plain = await request(t.server).post(`/approvals/${id}/options`).set('Content-Type', 'text/plain').send('{"action":"approve"}').expect(415);
      expect(plain.body.error).toBe('invalid_request');
      const form = await request(t.server).post(`/approvals/${id}/decision`).type('form').send({ action: 'approve' }).expect(415);
      expect(form.body.error).toBe('invalid_request');
      const evil = await request(t.server).post(`/approvals/${id}/options`).set('Origin', 'https://evil.example').send({ action: 'approve' }).expect(403);
      expect(evil.body.error).toBe('invalid_request');
      // The page's own origin is accepted.
      await request(t.server).post(`/approvals/${id}/options`).set('Origin', t.issuer).send({ action: 'approve' }).expect(200);
      expect((await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body.status).toBe('pending');
    });

    it('no log line carries an enrollment token or the secret half of an auth_req_id', async () => {
      // One more enrollment and a CIBA round trip, so this test does not rely on the others.
      const second = new SoftAuthenticator({ origin: t.issuer });
      await enroll(t, 'alice', second, secrets);
      const res = await backchannel(t, 'agent-a', { login_hint: 'alice', scope: 'trips:read' }).expect(200);
      const { id, authReqId } = pendingOf(200, res.body as Body, secrets, 200);
      await poll(t, 'tier1-agent', authReqId).expect(400);
      await decide(t, id, 'approve', second);
      await poll(t, 'agent-a', authReqId).expect(200);

      expect(secrets.length).toBeGreaterThanOrEqual(3);
      expect(t.logs.some((line) => line.includes('/enroll/[redacted]'))).toBe(true);
      const leaks = t.logs.flatMap((line) => secrets.filter((s) => line.includes(s)).map((s) => ({ secret: s, line })));
      expect(leaks).toEqual([]);
    });
  });
});

describe.each(STORE_KINDS)('approval webhook (%s store)', (kind) => {
  interface Hit {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
    body: Body;
  }
  let t: TestApp;
  let idp: TestIdp;
  let hook: Server;
  let hookOrigin: string;
  const hits: Hit[] = [];
  /** How the hook answers the n-th POST (1-based) about an approval. */
  let answer: (res: ServerResponse, nth: number) => void = (res) => res.writeHead(200).end();
  const secrets: string[] = [];

  beforeAll(async () => {
    hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body;
        hits.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        answer(res, hits.filter((h) => h.body.approval_id === body.approval_id).length);
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookOrigin = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
    idp = await makeIdp(() => t.issuer);
    t = await startTestApp({
      store: kind,
      policy: (issuer: string) => ({ ...exchangePolicy(idp, issuer), notifications: { approval_webhook: `${hookOrigin}/hook-secret-path?key=s3cr3t` } }),
    });
    await enroll(t, 'alice', new SoftAuthenticator({ origin: t.issuer }), secrets);
  });
  afterAll(async () => {
    await t.close();
    hook.closeAllConnections();
    await new Promise<void>((resolve) => hook.close(() => resolve()));
  });

  const hitsFor = (id: string): Hit[] => hits.filter((h) => h.body.approval_id === id);
  const newRequest = async (params: Record<string, string> = {}): Promise<Pending> => {
    const res = await exchange(t, 'tier1-agent', { subject_token: await idp.token(), scope: 'trips:read', ...params });
    return pendingOf(res.status, res.body as Body, secrets);
  };

  it('POSTs one JSON notice per new request', async () => {
    answer = (res) => res.writeHead(204).end();
    const { id } = await newRequest();
    await waitFor(() => hitsFor(id).length === 1, 'the webhook notice');
    const [hit] = hitsFor(id);
    expect(hit!.method).toBe('POST');
    expect(hit!.url).toBe('/hook-secret-path?key=s3cr3t');
    expect(hit!.headers['content-type']).toBe('application/json');
    const approval = (await asAdmin(t).get(`/admin/approvals/${id}`).expect(200)).body;
    expect(hit!.body).toEqual({
      type: 'approval.requested', approval_id: id, approval_uri: `${t.issuer}/approvals/${id}`,
      agent: { id: 'tier1-agent', name: 'tier1-agent', owner: 'alice', tier: 1 }, owner: 'alice', user: 'alice',
      scopes: ['trips:read'], audience: TRAVEL, expires_at: approval.expires_at,
    });
    expect(new Date(hit!.body.expires_at as string).toISOString()).toBe(hit!.body.expires_at);
    // The notice carries no secret: the agent's auth_req_id is not in it.
    expect(JSON.stringify(hit!.body)).not.toContain(secrets.at(-1)!);
  });

  it('a CIBA request with a binding message notifies with the message', async () => {
    answer = (res) => res.writeHead(200).end();
    const res = await backchannel(t, 'agent-a', { login_hint: 'alice', scope: 'mail:read', resource: MAIL, binding_message: 'K-42' }).expect(200);
    const { id } = pendingOf(200, res.body as Body, secrets, 200);
    await waitFor(() => hitsFor(id).length === 1, 'the webhook notice');
    expect(hitsFor(id)[0]!.body).toMatchObject({ approval_id: id, agent: { id: 'agent-a' }, scopes: ['mail:read'], audience: MAIL, binding_message: 'K-42' });
  });

  it('retries after a 5xx, without holding up the answer to the agent', async () => {
    answer = (res, nth) => res.writeHead(nth === 1 ? 500 : 200).end();
    const { id } = await newRequest();
    // The answer came back before the retry (which waits for a backoff) reached the hook.
    expect(hitsFor(id).length).toBeLessThan(2);
    await waitFor(() => hitsFor(id).length === 2, 'the retried notice');
    expect(hitsFor(id).map((h) => h.body)).toEqual([hitsFor(id)[0]!.body, hitsFor(id)[0]!.body]);
  });

  it('a hook that does not answer does not delay the agent', async () => {
    const held: ServerResponse[] = [];
    answer = (res) => held.push(res);
    // If the exchange waited for the hook, this would never resolve: the hook answers only after it.
    const { id } = await newRequest();
    await waitFor(() => hitsFor(id).length === 1, 'the webhook notice');
    expect(held).toHaveLength(1);
    expect(held[0]!.writableEnded).toBe(false);
    for (const res of held) res.writeHead(200).end();
  });

  it('a 4xx is not retried; the failure is logged with the webhook origin only', async () => {
    answer = (res) => res.writeHead(404).end();
    const { id } = await newRequest();
    const failures = () => t.logs.filter((line) => line.includes('approval webhook failed') && line.includes(id));
    await waitFor(() => failures().length > 0, 'the webhook failure log line');
    // The log line is written after the last attempt: exactly one was made.
    expect(hitsFor(id)).toHaveLength(1);
    expect(failures()).toHaveLength(1);
    const line = JSON.parse(failures()[0]!) as Body;
    expect(line).toMatchObject({ level: 40, msg: 'approval webhook failed', webhook: hookOrigin, approval_id: id, problem: 'status 404' });
    expect(failures()[0]).not.toContain('hook-secret-path');
    expect(failures()[0]).not.toContain('s3cr3t');
    expect(t.logs.filter((l) => l.includes('hook-secret-path') || l.includes('s3cr3t'))).toEqual([]);
  });
});

import { createHash } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import request from 'supertest';

import { approvalKey, challengeKey, enrollmentKey, passkeyKey } from '../../src/store/keys.js';
import { ADMIN_TOKEN, secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';
import { AT, claimsOf, exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';

/**
 * Human approvals with passkeys (SPEC section 6), driven over HTTP with the software
 * authenticator: real attestation and assertion bytes, verified by the real app on both stores.
 * Enrollment links, approve and deny, every refusal of the step-up ceremony (each leaving the
 * request pending), synced passkeys, and poll-once redemption under concurrency.
 */

const CIBA = 'urn:openid:params:grant-type:ciba';
const UNKNOWN_CHALLENGE = 'the challenge is unknown, expired or already used: ask for new options';
const INVALID_LINK = 'this enrollment link is not valid: it may have been used or have expired';

type Action = 'approve' | 'deny';
interface Pending { id: string; authReqId: string; approvalUri: string }
interface PasskeyView { id: string; user_id: string; counter: number; transports: string[]; backup_eligible: boolean; backed_up: boolean; created_at: string; last_used_at?: string }
interface AuditEvent { type: string; approval_id?: string; jti?: string; [field: string]: unknown }

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

describe.each(STORE_KINDS)('approvals with passkeys (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  /** Alice's and Bob's everyday authenticators (device-bound: the counter moves), enrolled in beforeAll. */
  let alice: SoftAuthenticator;
  let bob: SoftAuthenticator;

  beforeAll(async () => {
    idp = await makeIdp(() => t.issuer);
    t = await startTestApp({ store: kind, policy: (issuer: string) => exchangePolicy(idp, issuer) });
    alice = new SoftAuthenticator({ origin: t.issuer });
    bob = new SoftAuthenticator({ origin: t.issuer });
    await enroll('alice', alice);
    await enroll('bob', bob);
  });
  afterAll(() => t.close());

  // ——— helpers ———

  const admin = {
    get: (path: string) => request(t.server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
    post: (path: string, body: object = {}) => request(t.server).post(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
  };

  /** POST /admin/users/{user}/enrollments → the link, its path and its token. */
  async function createLink(user: string, body: object = {}): Promise<{ url: string; path: string; token: string; expires_at: string }> {
    const res = await admin.post(`/admin/users/${user}/enrollments`, body);
    expect({ status: res.status, url: res.body.url }).toEqual({ status: 201, url: expect.stringMatching(new RegExp(`^${t.issuer}/enroll/[A-Za-z0-9_-]{43}$`)) });
    const path = new URL(res.body.url as string).pathname;
    return { url: res.body.url as string, path, token: path.split('/').pop()!, expires_at: res.body.expires_at as string };
  }

  const enrollOptionsRes = (path: string) => request(t.server).post(`${path}/options`).send({});
  const registerRes = (path: string, credential: unknown) => request(t.server).post(path).send({ credential });

  async function enrollOptions(path: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const res = await enrollOptionsRes(path);
    expect(res.status).toBe(200);
    return res.body as PublicKeyCredentialCreationOptionsJSON;
  }

  /** The whole enrollment: link, options, registration; returns the new passkey's id. */
  async function enroll(user: string, authenticator: SoftAuthenticator): Promise<string> {
    const { path } = await createLink(user);
    const credential = authenticator.register(await enrollOptions(path));
    const res = await registerRes(path, credential);
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: 'registered', passkey: { id: credential.id, created_at: expect.any(String) } } });
    return credential.id;
  }

  async function passkeysOf(user: string): Promise<PasskeyView[]> {
    const res = await admin.get(`/admin/users/${user}/passkeys`);
    expect(res.status).toBe(200);
    return (res.body as { items: PasskeyView[] }).items;
  }

  async function passkey(user: string, id: string): Promise<PasskeyView | undefined> {
    return (await passkeysOf(user)).find((p) => p.id === id);
  }

  /** A token exchange that needs alice's approval (tier1-agent: always) → its pending answer. */
  async function pendingApproval(agent = 'tier1-agent', params: Record<string, string> = {}): Promise<Pending> {
    const res = await exchange(t, agent, { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read', ...params });
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 400, error: 'authorization_pending' });
    expect(res.body).toEqual({
      error: 'authorization_pending', error_description: expect.any(String), auth_req_id: expect.stringMatching(/^apr_[A-Za-z0-9_-]{22}\./),
      expires_in: 600, interval: 1, approval_uri: expect.stringMatching(new RegExp(`^${t.issuer}/approvals/apr_`)),
    });
    const authReqId = res.body.auth_req_id as string;
    const id = authReqId.split('.')[0]!;
    expect(res.body.approval_uri).toBe(`${t.issuer}/approvals/${id}`);
    return { id, authReqId, approvalUri: res.body.approval_uri as string };
  }

  const optionsRes = (id: string, action: Action) => request(t.server).post(`/approvals/${id}/options`).send({ action });
  const decisionRes = (id: string, action: Action, credential: unknown) => request(t.server).post(`/approvals/${id}/decision`).send({ action, credential });

  async function approvalOptions(id: string, action: Action = 'approve'): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const res = await optionsRes(id, action);
    expect(res.status).toBe(200);
    return res.body as PublicKeyCredentialRequestOptionsJSON;
  }

  /** Options, a good assertion from `authenticator`, the decision: 200 with the new status. */
  async function decide(id: string, action: Action, authenticator: SoftAuthenticator = alice): Promise<AuthenticationResponseJSON> {
    const credential = authenticator.assert(await approvalOptions(id, action));
    const res = await decisionRes(id, action, credential);
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: action === 'approve' ? 'approved' : 'denied' } });
    return credential;
  }

  const poll = (authReqId: string, agent = 'tier1-agent') =>
    request(t.server).post('/token').auth(agent, secretOf(agent)).type('form').send({ grant_type: CIBA, auth_req_id: authReqId });

  async function approvalStatus(id: string): Promise<string> {
    const res = await admin.get(`/admin/approvals/${id}`);
    expect(res.status).toBe(200);
    return res.body.status as string;
  }

  /** A refused decision: the status, error and description asked for. */
  function expectRefused(res: request.Response, description: string | RegExp, status = 400, error = 'invalid_request'): void {
    expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
    if (typeof description === 'string') expect(res.body.error_description).toBe(description);
    else expect(res.body.error_description).toMatch(description);
  }

  /** Nothing was decided: the admin API says pending and the agent's (first) poll is told to wait. */
  async function expectStillPending(approval: Pending): Promise<void> {
    const view = await admin.get(`/admin/approvals/${approval.id}`);
    expect(view.status).toBe(200);
    expect(view.body.status).toBe('pending');
    expect(view.body).not.toHaveProperty('decided_at');
    const polled = await poll(approval.authReqId);
    expect({ status: polled.status, error: polled.body.error }).toEqual({ status: 400, error: 'authorization_pending' });
  }

  const auditEvents = (type: string, approvalId: string): AuditEvent[] => t.logs
    .map((line) => JSON.parse(line) as { audit?: boolean; event?: AuditEvent })
    .filter((line) => line.audit === true && line.event?.type === type && line.event.approval_id === approvalId)
    .map((line) => line.event!);

  const digestOf = (token: string): string => createHash('sha256').update(token).digest('base64url');

  // ——— enrollment ———

  describe('enrollment', () => {
    it('an admin link enrolls a passkey (counter 0) and is single-use', async () => {
      const before = nowSeconds();
      const link = await createLink('alice', { expires_in: 60 });
      const expiresAt = Date.parse(link.expires_at) / 1000;
      expect(expiresAt).toBeGreaterThanOrEqual(before + 60);
      expect(expiresAt).toBeLessThanOrEqual(nowSeconds() + 60);

      const page = await request(t.server).get(link.path);
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('data-action="register"');

      const options = await enrollOptions(link.path);
      expect(options).toMatchObject({ rp: { id: '127.0.0.1' }, authenticatorSelection: { userVerification: 'required' }, attestation: 'none' });
      expect(options.pubKeyCredParams.map((p) => p.alg)).toContain(-7);
      // Alice's existing passkey is excluded, so an authenticator cannot register twice.
      expect(options.excludeCredentials?.map((c) => c.id)).toContain(alice.credentials[0]!.id);

      const authenticator = new SoftAuthenticator({ origin: t.issuer });
      const credential = authenticator.register(options);
      const res = await registerRes(link.path, credential);
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: 'registered', passkey: { id: credential.id, created_at: expect.any(String) } } });

      const listed = await passkey('alice', credential.id);
      expect(listed).toMatchObject({ id: credential.id, user_id: 'alice', counter: 0, backup_eligible: false, backed_up: false, created_at: res.body.passkey.created_at });
      expect(listed).not.toHaveProperty('public_key');
      expect(listed).not.toHaveProperty('last_used_at');

      // Used up: options, completion and the page all refuse it.
      expectRefused(await enrollOptionsRes(link.path), INVALID_LINK, 404);
      const again = authenticator.register(options, {});
      expectRefused(await registerRes(link.path, again), INVALID_LINK, 404);
      const gone = await request(t.server).get(link.path);
      expect(gone.status).toBe(404);
      expect(gone.text).toMatch(/<span data-status>error: /);
      expect(await passkey('alice', again.id)).toBeUndefined();
    });

    it('an expired link is refused, even with options obtained while it was valid', async () => {
      const link = await createLink('alice', { expires_in: 60 });
      const options = await enrollOptions(link.path);
      const key = enrollmentKey(digestOf(link.token));
      const record = JSON.parse((await t.store.get(key))!) as { user_id: string; expires_at: number };
      expect(record).toEqual({ user_id: 'alice', expires_at: Date.parse(link.expires_at) / 1000 });
      await t.store.set(key, JSON.stringify({ ...record, expires_at: nowSeconds() - 1 }), { ttlSeconds: 60 });

      const page = await request(t.server).get(link.path);
      expect(page.status).toBe(404);
      expect(page.text).toMatch(/<span data-status>error: /);
      expectRefused(await enrollOptionsRes(link.path), INVALID_LINK, 404);
      const credential = new SoftAuthenticator({ origin: t.issuer }).register(options);
      expectRefused(await registerRes(link.path, credential), INVALID_LINK, 404);
      expect(await passkey('alice', credential.id)).toBeUndefined();
    });

    it('refuses a registration without user verification, from another origin or for another RP ID; the link stays usable', async () => {
      const link = await createLink('alice');
      const authenticator = new SoftAuthenticator({ origin: t.issuer });
      const cases: [string, (o: PublicKeyCredentialCreationOptionsJSON) => RegistrationResponseJSON, RegExp][] = [
        ['no user verification', (o) => authenticator.register(o, { userVerified: false }), /^passkey verification failed: User verification was required, but user could not be verified$/],
        ['another origin (same host, other port)', (o) => authenticator.register(o, { origin: 'http://127.0.0.1:1' }), /^passkey verification failed: Unexpected registration response origin "http:\/\/127\.0\.0\.1:1"/],
        ['another RP ID', (o) => authenticator.register(o, { rpId: 'evil.example' }), /^passkey verification failed: Unexpected RP ID hash/],
      ];
      for (const [what, make, description] of cases) {
        const credential = make(await enrollOptions(link.path));
        const res = await registerRes(link.path, credential);
        expect({ what, status: res.status, error: res.body.error }).toEqual({ what, status: 400, error: 'invalid_request' });
        expect({ what, description: res.body.error_description }).toEqual({ what, description: expect.stringMatching(description) });
        expect({ what, listed: await passkey('alice', credential.id) }).toEqual({ what, listed: undefined });
      }
      // None of the refusals used the link up.
      const good = new SoftAuthenticator({ origin: t.issuer }).register(await enrollOptions(link.path));
      expect((await registerRes(link.path, good)).status).toBe(200);
      expect(await passkey('alice', good.id)).toBeDefined();
    });

    it('refuses a registration cross-origin or answering options of another link', async () => {
      const link = await createLink('alice');
      const crossed = new SoftAuthenticator({ origin: t.issuer }).register(await enrollOptions(link.path), { crossOrigin: true });
      expectRefused(await registerRes(link.path, crossed), 'cross-origin passkey ceremonies are refused');
      expect(await passkey('alice', crossed.id)).toBeUndefined();

      const other = await createLink('alice');
      const misplaced = new SoftAuthenticator({ origin: t.issuer }).register(await enrollOptions(other.path));
      expectRefused(await registerRes(link.path, misplaced), 'this challenge was not issued for this enrollment link');
      expect(await passkey('alice', misplaced.id)).toBeUndefined();
    });

    it('refuses a replayed registration challenge', async () => {
      // A refused attempt consumes the challenge: a correct answer to it afterwards is refused.
      const link = await createLink('alice');
      const options = await enrollOptions(link.path);
      const authenticator = new SoftAuthenticator({ origin: t.issuer });
      expect((await registerRes(link.path, authenticator.register(options, { userVerified: false }))).status).toBe(400);
      const late = authenticator.register(options);
      expectRefused(await registerRes(link.path, late), UNKNOWN_CHALLENGE);
      expect(await passkey('alice', late.id)).toBeUndefined();

      // The exact body of a successful registration, replayed on a fresh link of the same user.
      const first = await createLink('alice');
      const body = new SoftAuthenticator({ origin: t.issuer }).register(await enrollOptions(first.path));
      expect((await registerRes(first.path, body)).status).toBe(200);
      const count = (await passkeysOf('alice')).length;
      const second = await createLink('alice');
      expectRefused(await registerRes(second.path, body), UNKNOWN_CHALLENGE);
      expect((await passkeysOf('alice')).length).toBe(count);
      expect((await request(t.server).get(second.path)).status).toBe(200); // the fresh link was not used up
    });

    it('refuses JSON posts from a foreign Origin', async () => {
      const link = await createLink('alice');
      const res = await request(t.server).post(`${link.path}/options`).set('Origin', 'https://evil.example').send({});
      expectRefused(res, 'requests from origin https://evil.example are not accepted', 403);
    });
  });

  // ——— approve and deny ———

  describe('deciding', () => {
    it('approve: the agent collects a token that carries the approval (acr phr, amr, auth_time, act)', async () => {
      const approval = await pendingApproval();
      const page = await request(t.server).get(`/approvals/${approval.id}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('data-action="approve"');
      expect(page.text).toMatch(/<span data-status>pending<\/span>/);

      const options = await approvalOptions(approval.id);
      expect(options).toMatchObject({ rpId: '127.0.0.1', userVerification: 'required' });
      expect(options.allowCredentials?.map((c) => c.id)).toContain(alice.credentials[0]!.id);
      expect(options.allowCredentials?.map((c) => c.id)).not.toContain(bob.credentials[0]!.id);
      const beforeUse = (await passkey('alice', alice.credentials[0]!.id))!;

      const decidedFrom = nowSeconds();
      const res = await decisionRes(approval.id, 'approve', alice.assert(options));
      expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { status: 'approved' } });
      const decidedTo = nowSeconds();
      expect(await approvalStatus(approval.id)).toBe('approved');

      const tokenRes = await poll(approval.authReqId);
      expect(tokenRes.status).toBe(200);
      expect(tokenRes.body).toEqual({ access_token: expect.any(String), issued_token_type: AT, token_type: 'Bearer', expires_in: expect.any(Number), scope: 'trips:read' });
      const { payload } = await jwtVerify(tokenRes.body.access_token as string, createRemoteJWKSet(new URL(`${t.issuer}/jwks`)), { issuer: t.issuer, audience: TRAVEL, typ: 'at+jwt' });
      expect(payload).toMatchObject({ sub: 'alice', act: { sub: 'tier1-agent' }, client_id: 'tier1-agent', scope: 'trips:read', approval_id: approval.id, acr: 'phr', amr: ['hwk', 'user', 'mfa'] });
      expect(payload.auth_time).toEqual(expect.any(Number));
      expect(payload.auth_time as number).toBeGreaterThanOrEqual(decidedFrom);
      expect(payload.auth_time as number).toBeLessThanOrEqual(decidedTo);

      const view = await admin.get(`/admin/approvals/${approval.id}`);
      expect(view.body).toMatchObject({ status: 'redeemed', approver: 'alice', jti: payload.jti, decided_at: expect.any(String), redeemed_at: expect.any(String) });

      const used = (await passkey('alice', alice.credentials[0]!.id))!;
      expect(used.counter).toBe(alice.credentials[0]!.signCount);
      expect(used.counter).toBeGreaterThan(beforeUse.counter);
      expect(used.last_used_at).toEqual(expect.any(String));
      expect(Date.parse(used.last_used_at!) / 1000).toBe(payload.auth_time);

      expect(auditEvents('approval.approved', approval.id)).toHaveLength(1);
      expect(auditEvents('token.issued', approval.id)).toEqual([expect.objectContaining({ jti: payload.jti, client_id: 'tier1-agent' })]);
    });

    it('deny: the agent is told access_denied', async () => {
      const approval = await pendingApproval();
      await decide(approval.id, 'deny');
      expect(await approvalStatus(approval.id)).toBe('denied');
      const res = await poll(approval.authReqId);
      expect({ status: res.status, body: res.body }).toEqual({ status: 400, body: { error: 'access_denied', error_description: 'alice denied the request' } });
      expect(auditEvents('approval.denied', approval.id)).toHaveLength(1);
      expect(auditEvents('token.issued', approval.id)).toHaveLength(0);
      const page = await request(t.server).get(`/approvals/${approval.id}`);
      expect(page.text).toMatch(/<span data-status>denied<\/span>/);
    });

    it('a decided request cannot be decided again', async () => {
      const approval = await pendingApproval();
      await decide(approval.id, 'approve');
      expectRefused(await optionsRes(approval.id, 'deny'), `approval request ${approval.id} is already approved`, 409, 'conflict');
    });

    it('a synced passkey (counter always 0) approves twice; amr says swk', async () => {
      const synced = new SoftAuthenticator({ origin: t.issuer, syncedCounter: true });
      const id = await enroll('alice', synced);
      expect(await passkey('alice', id)).toMatchObject({ counter: 0, backup_eligible: true, backed_up: true });
      for (const round of [1, 2]) {
        const approval = await pendingApproval();
        const credential = await decide(approval.id, 'approve', synced);
        expect({ round, id: credential.id }).toEqual({ round, id });
        const tokenRes = await poll(approval.authReqId);
        expect({ round, status: tokenRes.status }).toEqual({ round, status: 200 });
        expect(claimsOf(tokenRes.body.access_token as string)).toMatchObject({ approval_id: approval.id, amr: ['swk', 'user', 'mfa'] });
        expect(await passkey('alice', id)).toMatchObject({ counter: 0, last_used_at: expect.any(String) });
      }
    });
  });

  // ——— refused decisions: the request stays pending ———

  describe('refused approve decisions leave the request pending', () => {
    const tampered: [string, () => Parameters<SoftAuthenticator['assert']>[1], string | RegExp][] = [
      ['wrong origin', () => ({ origin: 'https://evil.example' }), /^passkey verification failed: Unexpected authentication response origin "https:\/\/evil\.example"/],
      ['wrong RP ID', () => ({ rpId: 'evil.example' }), /^passkey verification failed: Unexpected RP ID hash/],
      ['user verification not set', () => ({ userVerified: false }), 'passkey verification failed: User verification required, but user could not be verified'],
      ['cross-origin (iframe) ceremony', () => ({ crossOrigin: true }), 'cross-origin passkey ceremonies are refused'],
      ['userHandle of another user', () => ({ userHandle: bob.credentials[0]!.userHandle }), "the passkey's user handle is not alice's"],
      // A bad signature must not be reported as a missing user verification (which the library already refuses by throwing).
      ['tampered signature', () => ({ tamperSignature: true }), /^passkey verification failed(?!: user verification)/],
    ];

    it.each(tampered)('%s', async (_what, overrides, description) => {
      const approval = await pendingApproval();
      const before = (await passkey('alice', alice.credentials[0]!.id))!;
      const credential = alice.assert(await approvalOptions(approval.id), overrides());
      expectRefused(await decisionRes(approval.id, 'approve', credential), description);
      await expectStillPending(approval);
      // The counter did not move and the use was not recorded.
      expect(await passkey('alice', before.id)).toEqual(before);
    });

    it('a replayed challenge: a refused attempt uses it up, a correct answer to it is then refused', async () => {
      const approval = await pendingApproval();
      const options = await approvalOptions(approval.id);
      expectRefused(await decisionRes(approval.id, 'approve', alice.assert(options, { origin: 'https://evil.example' })), /^passkey verification failed: /);
      expectRefused(await decisionRes(approval.id, 'approve', alice.assert(options)), UNKNOWN_CHALLENGE);
      await expectStillPending(approval);
    });

    it("a replayed assertion: a successful decision's exact body, on another pending request", async () => {
      const done = await pendingApproval();
      const body = await decide(done.id, 'approve');
      const other = await pendingApproval();
      expectRefused(await decisionRes(other.id, 'approve', body), UNKNOWN_CHALLENGE);
      expectRefused(await decisionRes(done.id, 'approve', body), `approval request ${done.id} is already approved`, 409, 'conflict');
      await expectStillPending(other);
    });

    it('an expired challenge', async () => {
      const approval = await pendingApproval();
      const options = await approvalOptions(approval.id);
      const key = challengeKey(options.challenge);
      const record = JSON.parse((await t.store.get(key))!) as { purpose: string; approval_id: string; expires_at: number };
      expect(record).toMatchObject({ purpose: 'approve', user_id: 'alice', approval_id: approval.id });
      await t.store.set(key, JSON.stringify({ ...record, expires_at: nowSeconds() - 1 }), { ttlSeconds: 60 });
      expectRefused(await decisionRes(approval.id, 'approve', alice.assert(options)), UNKNOWN_CHALLENGE);
      await expectStillPending(approval);
    });

    it("another user's passkey", async () => {
      const approval = await pendingApproval();
      const options = await approvalOptions(approval.id);
      const credential = bob.assert(options, { credentialId: bob.credentials[0]!.id });
      expectRefused(await decisionRes(approval.id, 'approve', credential), 'this passkey does not belong to alice, the approver');
      await expectStillPending(approval);
    });

    it('a counter regression (a cloned authenticator)', async () => {
      const device = new SoftAuthenticator({ origin: t.issuer });
      const id = await enroll('alice', device);
      const stored = JSON.parse((await t.store.get(passkeyKey(id)))!) as Record<string, unknown>;
      expect(stored).toMatchObject({ id, user_id: 'alice', counter: 0 });
      await t.store.set(passkeyKey(id), JSON.stringify({ ...stored, counter: 50 }), { ttlSeconds: null });

      const approval = await pendingApproval();
      const credential = device.assert(await approvalOptions(approval.id), { signCount: 10 });
      expectRefused(await decisionRes(approval.id, 'approve', credential), 'passkey verification failed: Response counter value 10 was lower than expected 50');
      await expectStillPending(approval);
      expect(await passkey('alice', id)).toMatchObject({ counter: 50 });
      expect(await passkey('alice', id)).not.toHaveProperty('last_used_at');

      // Control: the same passkey past the stored counter is accepted, and the counter moves to it.
      const ok = device.assert(await approvalOptions(approval.id), { signCount: 51 });
      expect((await decisionRes(approval.id, 'approve', ok)).body).toEqual({ status: 'approved' });
      expect(await passkey('alice', id)).toMatchObject({ counter: 51, last_used_at: expect.any(String) });
    });

    it('an assertion made for a different approval', async () => {
      const x = await pendingApproval();
      const y = await pendingApproval();
      const credential = alice.assert(await approvalOptions(x.id));
      expectRefused(await decisionRes(y.id, 'approve', credential), 'this passkey assertion was made for a different approval');
      await expectStillPending(x);
      await expectStillPending(y);
    });

    it('options for deny submitted as approve', async () => {
      const approval = await pendingApproval();
      const credential = alice.assert(await approvalOptions(approval.id, 'deny'));
      expectRefused(await decisionRes(approval.id, 'approve', credential), 'this challenge was issued to deny, not to approve');
      await expectStillPending(approval);
    });

    it('an expired request cannot be decided; the agent is told expired_token', async () => {
      const approval = await pendingApproval();
      const options = await approvalOptions(approval.id);
      const record = JSON.parse((await t.store.get(approvalKey(approval.id)))!) as { expires_at: number };
      await t.store.set(approvalKey(approval.id), JSON.stringify({ ...record, expires_at: nowSeconds() - 1 }), { ttlSeconds: 3600 });
      expectRefused(await decisionRes(approval.id, 'approve', alice.assert(options)), `approval request ${approval.id} has expired`, 409, 'expired');
      expectRefused(await optionsRes(approval.id, 'approve'), `approval request ${approval.id} has expired`, 409, 'expired');
      expect(await approvalStatus(approval.id)).toBe('expired');
      const polled = await poll(approval.authReqId);
      expect({ status: polled.status, error: polled.body.error }).toEqual({ status: 400, error: 'expired_token' });
    });
  });

  // ——— redemption: once ———

  describe('redemption', () => {
    it('a second poll after the token is invalid_grant', async () => {
      const approval = await pendingApproval();
      await decide(approval.id, 'approve');
      expect((await poll(approval.authReqId)).status).toBe(200);
      const again = await poll(approval.authReqId);
      expect({ status: again.status, body: again.body }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'this auth_req_id has already been redeemed' } });
    });

    it('50 concurrent polls of one approved request: exactly one token', async () => {
      const approval = await pendingApproval();
      await decide(approval.id, 'approve');
      const results = await Promise.all(Array.from({ length: 50 }, () => poll(approval.authReqId)));
      const tokens = results.filter((r) => r.status === 200);
      const refused = results.filter((r) => r.status !== 200);
      expect(tokens).toHaveLength(1);
      expect(refused.map((r) => `${r.status} ${r.body.error as string}`)).toEqual(Array(49).fill('400 invalid_grant'));
      const jti = claimsOf(tokens[0]!.body.access_token as string).jti;
      expect(auditEvents('token.issued', approval.id)).toEqual([expect.objectContaining({ jti })]);
      expect(auditEvents('approval.redeemed', approval.id)).toHaveLength(1);
      expect((await admin.get(`/admin/approvals/${approval.id}`)).body).toMatchObject({ status: 'redeemed', jti });
    });
  });
});

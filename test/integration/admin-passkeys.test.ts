import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';

import { approvalIndexKey, approvalKey, passkeyKey } from '../../src/store/keys.js';
import { ADMIN_TOKEN, secretOf, startTestApp, STORE_KINDS, TEST_POLICY, type TestApp } from '../support/app.js';
import { SoftAuthenticator, type AssertOverrides } from '../support/soft-authenticator.js';

/**
 * The admin API's passkey and approval routes (SPEC sections 6 and 8), on both stores:
 * enrollment links (who may get one, how long it lives), a user's passkeys (several, listed,
 * removed one at a time, only by their owner's path), and approval requests (filtered, read,
 * paged, shown expired once past their time, and never showing what only the agent may know).
 */

const TRAVEL = 'https://api.travel.example';
const CIBA = 'urn:openid:params:grant-type:ciba';
const ENROLLMENT_TTL = 7200;

type Body = Record<string, unknown>;

interface PasskeyView {
  id: string;
  user_id: string;
  counter: number;
  transports: string[];
  backup_eligible: boolean;
  backed_up: boolean;
  aaguid?: string;
  created_at: string;
  last_used_at?: string;
}

interface ApprovalView {
  id: string;
  status: string;
  approver: string;
  agent: { id: string };
  created_at: string;
  expires_at: string;
}

interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

const agentAuth = (id: string) => ({ method: 'client_secret_basic', secret_env: `TEST_${id.toUpperCase().replace(/-/g, '_')}_SECRET` });

/**
 * TEST_POLICY with more people (each test works with its own approvers, so that filtered lists
 * are exactly what the test made) and a second agent for the agent filter.
 */
const POLICY = {
  ...TEST_POLICY,
  limits: { approval_ttl_seconds: 600, approval_poll_interval_seconds: 1, enrollment_ttl_seconds: ENROLLMENT_TTL },
  users: [
    { id: 'alice', name: 'Alice Example' },
    { id: 'bob', name: 'Bob Example', email: 'bob@example.com' },
    { id: 'carol', name: 'Carol Example', status: 'deactivated' },
    { id: 'erin', name: 'Erin Example' },
    { id: 'frank', name: 'Frank Example' },
    { id: 'gina', name: 'Gina Example' },
    { id: 'henry', name: 'Henry Example' },
  ],
  agents: [
    ...TEST_POLICY.agents,
    { id: 'booking-agent', name: 'Booking agent', owner: 'bob', tier: 3, scopes: ['trips:read', 'trips:book'], audiences: [TRAVEL], auth: agentAuth('booking-agent') },
  ],
};

describe.each(STORE_KINDS)('admin passkeys and approvals (%s store)', (kind) => {
  let t: TestApp;

  const admin = () => ({
    get: (path: string) => request(t.server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
    post: (path: string) => request(t.server).post(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
    delete: (path: string) => request(t.server).delete(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
  });

  const tokenOf = (url: string): string => new URL(url).pathname.split('/').pop()!;

  /** An enrollment link for `user`, then the enrollment page's two calls with a software authenticator. */
  async function enroll(user: string, authenticator: SoftAuthenticator): Promise<string> {
    const link = await admin().post(`/admin/users/${user}/enrollments`).send({}).expect(201);
    const token = tokenOf((link.body as { url: string }).url);
    const options = await request(t.server).post(`/enroll/${token}/options`).send({}).expect(200);
    const credential = authenticator.register(options.body as PublicKeyCredentialCreationOptionsJSON);
    const done = await request(t.server).post(`/enroll/${token}`).send({ credential }).expect(200);
    expect(done.body).toEqual({ status: 'registered', passkey: { id: credential.id, created_at: expect.any(String) } });
    return credential.id;
  }

  const passkeysOf = async (user: string): Promise<PasskeyView[]> =>
    ((await admin().get(`/admin/users/${user}/passkeys`).expect(200)).body as Page<PasskeyView>).items;

  /** A CIBA backchannel request by `agent` for `user`: the pending answer (auth_req_id, approval_uri…). */
  async function backchannel(agent: string, user: string, extra: Record<string, string> = {}): Promise<{ id: string; authReqId: string; body: Body }> {
    const res = await request(t.server).post('/backchannel').auth(agent, secretOf(agent)).type('form')
      .send({ login_hint: user, scope: 'trips:read', resource: TRAVEL, ...extra });
    expect({ status: res.status, body: res.body as unknown }).toMatchObject({ status: 200, body: { auth_req_id: expect.any(String) } });
    const authReqId = (res.body as { auth_req_id: string }).auth_req_id;
    return { id: authReqId.split('.')[0]!, authReqId, body: res.body as Body };
  }

  /** The approval page's two calls: options for `action`, then the assertion. */
  async function decide(approvalId: string, action: 'approve' | 'deny', authenticator: SoftAuthenticator, overrides: AssertOverrides = {}) {
    const options = await request(t.server).post(`/approvals/${approvalId}/options`).send({ action }).expect(200);
    const credential = authenticator.assert(options.body as PublicKeyCredentialRequestOptionsJSON, overrides);
    return request(t.server).post(`/approvals/${approvalId}/decision`).send({ action, credential });
  }

  const poll = (agent: string, authReqId: string) =>
    request(t.server).post('/token').auth(agent, secretOf(agent)).type('form').send({ grant_type: CIBA, auth_req_id: authReqId });

  const approvals = async (query: Record<string, string>): Promise<Page<ApprovalView>> =>
    (await admin().get('/admin/approvals').query(query).expect(200)).body as Page<ApprovalView>;

  /** Every page of a listing with `limit`, following next_cursor. */
  async function allPages(query: Record<string, string>, limit: number): Promise<ApprovalView[][]> {
    const pages: ApprovalView[][] = [];
    let cursor: string | null = null;
    do {
      const page: Page<ApprovalView> = await approvals({ ...query, limit: String(limit), ...(cursor !== null ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(limit);
      pages.push(page.items);
      cursor = page.next_cursor;
    } while (cursor !== null && pages.length < 100);
    expect(cursor).toBeNull();
    return pages;
  }

  /** Moves an approval record's expiry into the past, as if its time had run out. */
  async function expire(approvalId: string): Promise<void> {
    const raw = await t.store.get(approvalKey(approvalId));
    expect(raw).not.toBeNull();
    const record = JSON.parse(raw!) as Body;
    await t.store.set(approvalKey(approvalId), JSON.stringify({ ...record, expires_at: Math.floor(Date.now() / 1000) - 30 }), { ttlSeconds: 3600 });
  }

  const authenticator = () => new SoftAuthenticator({ origin: t.issuer });

  beforeAll(async () => {
    t = await startTestApp({ store: kind, policy: POLICY });
  });
  afterAll(() => t.close());

  describe('enrollment links', () => {
    it('answer 404 for an unknown user and 409 for a deactivated one, and give neither a link', async () => {
      const unknown = await admin().post('/admin/users/nobody/enrollments').send({}).expect(404);
      expect(unknown.body).toMatchObject({ error: 'not_found' });
      expect(unknown.body).not.toHaveProperty('url');
      const deactivated = await admin().post('/admin/users/carol/enrollments').send({ expires_in: 3600 }).expect(409);
      expect(deactivated.body).toMatchObject({ error: 'conflict', error_description: expect.stringContaining('carol') });
      expect(deactivated.body).not.toHaveProperty('url');
    });

    it('answer 400 naming expires_in when it is out of range or not a whole number', async () => {
      for (const expiresIn of [59, 0, -60, 604_801, 90.5, '3600', null]) {
        const res = await admin().post('/admin/users/alice/enrollments').send({ expires_in: expiresIn }).expect(400);
        expect({ expiresIn, body: res.body as unknown }).toEqual({ expiresIn, body: expect.objectContaining({ error: 'invalid_request', field: 'expires_in' }) });
      }
      const unknownField = await admin().post('/admin/users/alice/enrollments').send({ ttl: 3600 }).expect(400);
      expect(unknownField.body).toMatchObject({ error: 'invalid_request', field: 'ttl' });
    });

    it('are a single-use /enroll/{token} URL expiring expires_in (or limits.enrollment_ttl_seconds) from now', async () => {
      const token = /^[A-Za-z0-9_-]{43}$/;
      for (const [body, ttl] of [[{ expires_in: 60 }, 60], [{ expires_in: 604_800 }, 604_800], [{ expires_in: 3600 }, 3600], [{}, ENROLLMENT_TTL]] as const) {
        const before = Date.now();
        const res = await admin().post('/admin/users/alice/enrollments').send(body).expect(201);
        const after = Date.now();
        const { url, expires_at: expiresAt } = res.body as { url: string; expires_at: string };
        expect(Object.keys(res.body as Body).sort()).toEqual(['expires_at', 'url']);
        expect(url.startsWith(`${t.issuer}/enroll/`)).toBe(true);
        expect(tokenOf(url)).toMatch(token);
        expect(new URL(url).search).toBe('');
        // A value check, not a timing one: the expiry is the requested lifetime from the moment of the call (to a few seconds).
        const expiry = Date.parse(expiresAt);
        expect(expiry).toBeGreaterThanOrEqual(before + ttl * 1000 - 2000);
        expect(expiry).toBeLessThanOrEqual(after + ttl * 1000 + 2000);
      }

      // Two links are two different tokens; each opens the page until it is used.
      const first = tokenOf(((await admin().post('/admin/users/alice/enrollments').send({}).expect(201)).body as { url: string }).url);
      const second = tokenOf(((await admin().post('/admin/users/alice/enrollments').send({}).expect(201)).body as { url: string }).url);
      expect(first).not.toBe(second);
      await request(t.server).get(`/enroll/${first}`).expect(200);
      const options = await request(t.server).post(`/enroll/${first}/options`).send({}).expect(200);
      const credential = authenticator().register(options.body as PublicKeyCredentialCreationOptionsJSON);
      await request(t.server).post(`/enroll/${first}`).send({ credential }).expect(200);
      await request(t.server).get(`/enroll/${first}`).expect(404);
      await request(t.server).post(`/enroll/${first}/options`).send({}).expect(404);
      await request(t.server).get(`/enroll/${second}`).expect(200);
    });
  });

  describe('passkeys', () => {
    it('a user may hold several passkeys: each link adds one, listed oldest first, without the public key', async () => {
      const phone = authenticator();
      const laptop = new SoftAuthenticator({ origin: t.issuer, syncedCounter: true });
      const bobBefore = await passkeysOf('bob');
      const first = await enroll('bob', phone);
      const second = await enroll('bob', laptop);
      expect(first).not.toBe(second);

      const listed = await admin().get('/admin/users/bob/passkeys').expect(200);
      expect((listed.body as Page<PasskeyView>).next_cursor).toBeNull();
      const items = (listed.body as Page<PasskeyView>).items;
      expect(items.map((p) => p.id).sort()).toEqual([...bobBefore.map((p) => p.id), first, second].sort());
      const byId = new Map(items.map((p) => [p.id, p]));
      expect(byId.get(first)).toEqual({
        id: first, user_id: 'bob', counter: 0, transports: ['internal'], backup_eligible: false, backed_up: false, created_at: expect.any(String),
      });
      expect(byId.get(second)).toMatchObject({ id: second, user_id: 'bob', backup_eligible: true, backed_up: true });
      for (const p of items) {
        expect(p).not.toHaveProperty('public_key');
        expect(Number.isNaN(Date.parse(p.created_at))).toBe(false);
      }
      const times = items.map((p) => Date.parse(p.created_at));
      expect(times).toEqual([...times].sort((a, b) => a - b));

      // Ordered by created_at, not by enrollment order or id: make the second one the oldest.
      const raw = await t.store.get(passkeyKey(second));
      await t.store.set(passkeyKey(second), JSON.stringify({ ...(JSON.parse(raw!) as Body), created_at: '2020-01-01T00:00:00.000Z' }), { ttlSeconds: null });
      const reordered = await passkeysOf('bob');
      expect(reordered[0]).toMatchObject({ id: second, created_at: '2020-01-01T00:00:00.000Z' });
      expect(reordered.map((p) => p.id).sort()).toEqual(items.map((p) => p.id).sort());

      // Other users' lists are their own; an unknown user is 404.
      expect((await passkeysOf('erin')).map((p) => p.id)).not.toEqual(expect.arrayContaining([first]));
      const unknown = await admin().get('/admin/users/nobody/passkeys').expect(404);
      expect(unknown.body).toMatchObject({ error: 'not_found' });
    });

    it('DELETE removes one passkey, which can then no longer approve; the other still can', async () => {
      const kept = authenticator();
      const lost = authenticator();
      const keptId = await enroll('alice', kept);
      const lostId = await enroll('alice', lost);
      const pending = await backchannel('travel-agent', 'alice');

      const removed = await admin().delete(`/admin/users/alice/passkeys/${lostId}`).expect(200);
      expect(removed.body).toMatchObject({ id: lostId, user_id: 'alice', counter: 0, transports: ['internal'], created_at: expect.any(String) });
      expect(removed.body).not.toHaveProperty('public_key');
      const left = (await passkeysOf('alice')).map((p) => p.id);
      expect(left).toContain(keptId);
      expect(left).not.toContain(lostId);

      // The approval page no longer offers it...
      const options = await request(t.server).post(`/approvals/${pending.id}/options`).send({ action: 'approve' }).expect(200);
      const allowed = ((options.body as PublicKeyCredentialRequestOptionsJSON).allowCredentials ?? []).map((c) => c.id);
      expect(allowed).toContain(keptId);
      expect(allowed).not.toContain(lostId);
      // ...and an assertion made with it anyway is refused.
      const refused = await decide(pending.id, 'approve', lost, { credentialId: lostId });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('does not belong to alice') });
      expect(((await admin().get(`/admin/approvals/${pending.id}`).expect(200)).body as ApprovalView).status).toBe('pending');

      const approved = await decide(pending.id, 'approve', kept);
      expect({ status: approved.status, body: approved.body as unknown }).toEqual({ status: 200, body: { status: 'approved' } });
      const used = (await passkeysOf('alice')).find((p) => p.id === keptId);
      expect(used).toMatchObject({ counter: 1, last_used_at: expect.any(String) });

      // Gone is gone: a second DELETE is 404.
      const again = await admin().delete(`/admin/users/alice/passkeys/${lostId}`).expect(404);
      expect(again.body).toMatchObject({ error: 'not_found' });
    });

    it('DELETE of a passkey through another user is 404 and leaves it in place; malformed ids are 400', async () => {
      const bobs = authenticator();
      const bobKey = await enroll('bob', bobs);
      const wrongOwner = await admin().delete(`/admin/users/erin/passkeys/${bobKey}`).expect(404);
      expect(wrongOwner.body).toMatchObject({ error: 'not_found' });
      expect((await passkeysOf('bob')).map((p) => p.id)).toContain(bobKey);
      // Still usable by bob.
      const pending = await backchannel('booking-agent', 'bob');
      const denied = await decide(pending.id, 'deny', bobs);
      expect(denied.body).toEqual({ status: 'denied' });

      const unknownUser = await admin().delete(`/admin/users/nobody/passkeys/${bobKey}`).expect(404);
      expect(unknownUser.body).toMatchObject({ error: 'not_found' });
      expect((await passkeysOf('bob')).map((p) => p.id)).toContain(bobKey);
      await admin().delete('/admin/users/bob/passkeys/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').expect(404);
      for (const credential of ['has+plus', 'pad=', 'x'.repeat(1365)]) {
        const bad = await admin().delete(`/admin/users/bob/passkeys/${encodeURIComponent(credential)}`).expect(400);
        expect(bad.body).toMatchObject({ error: 'invalid_request', field: 'credential' });
      }
      expect((await passkeysOf('bob')).map((p) => p.id)).toContain(bobKey);
    });
  });

  describe('approvals', () => {
    let erinKey: SoftAuthenticator;
    let frankKey: SoftAuthenticator;

    beforeAll(async () => {
      erinKey = authenticator();
      frankKey = authenticator();
      await enroll('erin', erinKey);
      await enroll('frank', frankKey);
    });

    it('GET /admin/approvals filters by status, user and agent', async () => {
      const pending = await backchannel('travel-agent', 'erin');
      const approved = await backchannel('travel-agent', 'erin');
      const denied = await backchannel('booking-agent', 'erin');
      const redeemed = await backchannel('booking-agent', 'frank');
      const expired = await backchannel('travel-agent', 'frank');
      const frankPending = await backchannel('booking-agent', 'frank');

      expect((await decide(approved.id, 'approve', erinKey)).body).toEqual({ status: 'approved' });
      expect((await decide(denied.id, 'deny', erinKey)).body).toEqual({ status: 'denied' });
      expect((await decide(redeemed.id, 'approve', frankKey)).body).toEqual({ status: 'approved' });
      const token = await poll('booking-agent', redeemed.authReqId).expect(200);
      expect(token.body).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer' });
      await expire(expired.id);

      const ids = (page: Page<ApprovalView>) => page.items.map((a) => a.id).sort();
      const sorted = (...list: { id: string }[]) => list.map((a) => a.id).sort();

      expect(ids(await approvals({ user: 'erin' }))).toEqual(sorted(pending, approved, denied));
      expect(ids(await approvals({ user: 'frank' }))).toEqual(sorted(redeemed, expired, frankPending));
      expect(ids(await approvals({ user: 'erin', agent: 'travel-agent' }))).toEqual(sorted(pending, approved));
      expect(ids(await approvals({ user: 'frank', agent: 'booking-agent' }))).toEqual(sorted(redeemed, frankPending));
      expect(ids(await approvals({ user: 'erin', status: 'pending' }))).toEqual(sorted(pending));
      expect(ids(await approvals({ user: 'frank', status: 'pending' }))).toEqual(sorted(frankPending));
      expect(ids(await approvals({ user: 'erin', status: 'approved' }))).toEqual(sorted(approved));
      expect(ids(await approvals({ user: 'erin', status: 'denied' }))).toEqual(sorted(denied));
      expect(ids(await approvals({ user: 'frank', status: 'redeemed' }))).toEqual(sorted(redeemed));
      expect(ids(await approvals({ user: 'frank', status: 'expired' }))).toEqual(sorted(expired));
      expect(ids(await approvals({ user: 'frank', status: 'approved' }))).toEqual([]);
      expect(ids(await approvals({ user: 'nobody' }))).toEqual([]);

      // Filters without a user: every item has the asked-for state or agent, and ours are among them.
      for (const [status, ours] of [['pending', [pending, frankPending]], ['approved', [approved]], ['denied', [denied]], ['redeemed', [redeemed]], ['expired', [expired]]] as const) {
        const page = await approvals({ status, limit: '200' });
        expect(new Set(page.items.map((a) => a.status))).toEqual(new Set([status]));
        expect(page.items.map((a) => a.id)).toEqual(expect.arrayContaining(ours.map((a) => a.id)));
      }
      const booking = await approvals({ agent: 'booking-agent', limit: '200' });
      expect(new Set(booking.items.map((a) => a.agent.id))).toEqual(new Set(['booking-agent']));
      expect(booking.items.map((a) => a.id)).toEqual(expect.arrayContaining([denied.id, redeemed.id, frankPending.id]));
      expect(booking.items.map((a) => a.id)).not.toContain(pending.id);

      // Bad filters are 400 naming the parameter.
      for (const [query, field] of [[{ status: 'done' }, 'status'], [{ user: 'not an id' }, 'user'], [{ agent: '' }, 'agent'], [{ colour: 'red' }, 'colour']] as const) {
        const res = await admin().get('/admin/approvals').query(query).expect(400);
        expect(res.body).toMatchObject({ error: 'invalid_request', field });
      }
    });

    it('GET /admin/approvals/{id} shows the request and its decisions, never its secrets; unknown ids are 404', async () => {
      const pending = await backchannel('travel-agent', 'erin', { binding_message: 'Trip to Lisbon 4711' });
      const secret = pending.authReqId.split('.')[1]!;
      expect(pending.body).toMatchObject({ approval_uri: `${t.issuer}/approvals/${pending.id}`, interval: 1, expires_in: 600 });

      const read = await admin().get(`/admin/approvals/${pending.id}`).expect(200);
      const view = read.body as Body;
      expect(view).toEqual({
        id: pending.id, status: 'pending', reason: 'ciba', consent: false, approval_uri: `${t.issuer}/approvals/${pending.id}`,
        agent: { id: 'travel-agent', name: 'Travel agent', owner: 'alice', tier: 2 }, approver: 'erin', subject: { iss: t.issuer, sub: 'erin' },
        scopes: ['trips:read'], audience: TRAVEL, binding_message: 'Trip to Lisbon 4711', created_at: expect.any(String), expires_at: expect.any(String),
      });
      expect(Date.parse(view.expires_at as string) - Date.parse(view.created_at as string)).toBe(600_000);

      // What the record holds but the view must not show.
      const record = JSON.parse((await t.store.get(approvalKey(pending.id)))!) as Body;
      expect(record).toMatchObject({ request_digest: expect.any(String), hash: expect.any(String), issue: expect.any(Object) });
      const hidden = (body: unknown): void => {
        const text = JSON.stringify(body);
        for (const item of [body, ...((body as { items?: unknown[] }).items ?? [])]) {
          for (const key of ['request_digest', 'hash', 'issue', 'interval', 'client_id', 'passkey_id', 'auth_req_id', 'expiry_audited']) {
            expect(item).not.toHaveProperty(key);
          }
        }
        expect(text).not.toContain(secret);
        expect(text).not.toContain(pending.authReqId);
        expect(text).not.toContain(record.request_digest as string);
        expect(text).not.toContain(record.hash as string);
      };
      hidden(read.body);
      hidden((await admin().get('/admin/approvals').query({ user: 'erin', limit: '200' }).expect(200)).body);

      // Approved and redeemed: the times and the token's jti, still no secrets.
      expect((await decide(pending.id, 'approve', erinKey)).body).toEqual({ status: 'approved' });
      const approved = (await admin().get(`/admin/approvals/${pending.id}`).expect(200)).body as Body;
      expect(approved).toMatchObject({ status: 'approved', decided_at: expect.any(String) });
      expect(approved).not.toHaveProperty('redeemed_at');
      hidden(approved);
      const token = await poll('travel-agent', pending.authReqId).expect(200);
      const jti = (JSON.parse(Buffer.from((token.body as { access_token: string }).access_token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
      const redeemed = (await admin().get(`/admin/approvals/${pending.id}`).expect(200)).body as Body;
      expect(redeemed).toMatchObject({ status: 'redeemed', decided_at: approved.decided_at, redeemed_at: expect.any(String), jti });
      hidden(redeemed);
      expect(JSON.stringify(redeemed)).not.toContain((token.body as { access_token: string }).access_token);

      for (const id of ['apr_AAAAAAAAAAAAAAAAAAAAAA', 'apr_nope', 'nope', `${pending.id}x`]) {
        const missing = await admin().get(`/admin/approvals/${id}`).expect(404);
        expect(missing.body).toMatchObject({ error: 'not_found' });
      }
      const malformed = await admin().get(`/admin/approvals/${encodeURIComponent(pending.authReqId.replace('.', '!'))}`).expect(400);
      expect(malformed.body).toMatchObject({ error: 'invalid_request', field: 'id' });
    });

    it('a pending request whose time ran out is listed and read as expired', async () => {
      await enroll('gina', authenticator());
      const running = await backchannel('booking-agent', 'gina');
      const lapsed = await backchannel('booking-agent', 'gina');
      await expire(lapsed.id);

      const read = await admin().get(`/admin/approvals/${lapsed.id}`).expect(200);
      expect(read.body).toMatchObject({ id: lapsed.id, status: 'expired' });
      expect(Date.parse((read.body as ApprovalView).expires_at)).toBeLessThan(Date.now());
      expect(((await admin().get(`/admin/approvals/${running.id}`).expect(200)).body as ApprovalView).status).toBe('pending');

      const listed = await approvals({ agent: 'booking-agent', user: 'gina', limit: '200' });
      expect(listed.items.find((a) => a.id === lapsed.id)).toMatchObject({ status: 'expired' });
      expect(listed.items.find((a) => a.id === running.id)).toMatchObject({ status: 'pending' });
      expect((await approvals({ status: 'pending', limit: '200' })).items.map((a) => a.id)).not.toContain(lapsed.id);
      expect((await approvals({ status: 'expired', limit: '200' })).items.map((a) => a.id)).toContain(lapsed.id);
      // The agent is told the same.
      const polled = await poll('booking-agent', lapsed.authReqId).expect(400);
      expect(polled.body).toMatchObject({ error: 'expired_token' });
    });

    it('pages with limit and cursor: disjoint pages, newest first, covering every request', async () => {
      const henryKey = authenticator();
      await enroll('henry', henryKey);
      const made: string[] = [];
      for (let i = 0; i < 5; i += 1) made.push((await backchannel(i % 2 === 0 ? 'travel-agent' : 'booking-agent', 'henry')).id);

      const everything = (await approvals({ limit: '200' })).items.map((a) => a.id);
      expect(everything).toEqual(expect.arrayContaining(made));
      for (const [query, expected] of [[{}, everything], [{ user: 'henry' }, made]] as const) {
        for (const limit of [1, 2, 3]) {
          const pages = await allPages(query, limit);
          const seen = pages.flat().map((a) => a.id);
          expect({ query, limit, seen: [...seen].sort() }).toEqual({ query, limit, seen: [...expected].sort() });
          expect(new Set(seen).size).toBe(seen.length);
          expect(pages.length).toBe(Math.max(1, Math.ceil(expected.length / limit)));
          const times = pages.flat().map((a) => Date.parse(a.created_at));
          expect(times).toEqual([...times].sort((a, b) => b - a));
        }
      }
      // A cursor from one filter used again gives the same next page (it is a position, not a session).
      const first = await approvals({ user: 'henry', limit: '2' });
      const next1 = await approvals({ user: 'henry', limit: '2', cursor: first.next_cursor! });
      const next2 = await approvals({ user: 'henry', limit: '2', cursor: first.next_cursor! });
      expect(next2).toEqual(next1);
      expect(next1.items.map((a) => a.id)).not.toEqual(expect.arrayContaining(first.items.map((a) => a.id)));

      for (const [query, field] of [[{ limit: '0' }, 'limit'], [{ limit: '201' }, 'limit'], [{ limit: 'all' }, 'limit'], [{ cursor: '!!' }, 'cursor']] as const) {
        const res = await admin().get('/admin/approvals').query(query).expect(400);
        expect(res.body).toMatchObject({ error: 'invalid_request', field });
      }
    });

    it('pages requests made in the same second completely, whatever letters and symbols their ids hold', async () => {
      // Same-second requests are ordered by id; ids are random base64url, so upper and lower case,
      // digits, '-' and '_' all occur. These five copies of one record differ only there.
      const template = await backchannel('travel-agent', 'henry');
      const record = JSON.parse((await t.store.get(approvalKey(template.id)))!) as Body;
      const ids = ['_', '-', '0', 'b', 'F'].map((c) => `apr_${c.repeat(22)}`);
      for (const id of ids) {
        await t.store.set(approvalKey(id), JSON.stringify({ ...record, id, approver: 'paging-probe' }), { ttlSeconds: 3600 });
        await t.store.addToSet(approvalIndexKey(), id, 3600);
      }
      const all = await approvals({ user: 'paging-probe', limit: '200' });
      expect(all.items.map((a) => a.id).sort()).toEqual([...ids].sort());
      expect(all.next_cursor).toBeNull();
      for (const limit of [1, 2, 4]) {
        const pages = await allPages({ user: 'paging-probe' }, limit);
        const seen = pages.flat().map((a) => a.id);
        expect({ limit, seen }).toEqual({ limit, seen: all.items.map((a) => a.id) });
      }
    });
  });
});

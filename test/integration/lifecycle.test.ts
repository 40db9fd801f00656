import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import type { AgentRecord, UserRecord } from '../../src/registry/records.js';
import { TokenRecords } from '../../src/tokens/records.js';
import { ADMIN_TOKEN, secretOf, startTestApp, STORE_KINDS, TEST_POLICY, type TestApp } from '../support/app.js';
import { claimsOf, exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';

/**
 * The agent lifecycle (SPEC rule 8, sections 7 and 8): expiry, orphaning, overdue reviews and
 * retirement are enforced at use time and made explicit (and audited) by the sweep; retiring an
 * agent or revoking a delegation revokes the tokens issued under it.
 */

const MANDATE_AUD = 'https://mandate.example';
const DAY_MS = 86_400_000;

const envOf = (id: string): string => `TEST_${id.toUpperCase().replace(/[-.]/g, '_')}_SECRET`;

/** exchangePolicy plus agents of this file's own (so retiring one disturbs no other test) and the given governance rules. */
function lifecyclePolicy(idp: TestIdp, governance?: Record<string, unknown>) {
  const base = exchangePolicy(idp, MANDATE_AUD);
  const agent = (id: string, extra: Record<string, unknown> = {}) => ({
    id, name: id, owner: 'alice', tier: 3, scopes: ['trips:read'], audiences: [TRAVEL], default_audience: TRAVEL,
    grant_types: ['client_credentials'], auth: { method: 'client_secret_basic', secret_env: envOf(id) }, ...extra,
  });
  return {
    ...base,
    ...(governance ? { governance } : {}),
    agents: [...base.agents, agent('lc-retire-me', { may_delegate_to: ['agent-b'] }), agent('lc-deleg-agent')],
    delegations: [...base.delegations, { id: 'lc-alice-retire-me', user: 'alice', agent: 'lc-retire-me', scopes: ['trips:read'], audiences: [TRAVEL] }],
  };
}

/** Admin API, client credentials and introspection against one app. */
function helpers(app: () => TestApp) {
  const admin = {
    get: (path: string) => request(app().server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
    post: (path: string, body: object = {}) => request(app().server).post(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
    patch: (path: string, body: object) => request(app().server).patch(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
    delete: (path: string) => request(app().server).delete(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
  };
  /** Registers an agent (generated client_secret_basic secret, client_credentials allowed); returns its secret. */
  const createAgent = async (id: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const res = await admin.post('/admin/agents', {
      id, name: `Agent ${id}`, owner: 'alice', tier: 3, scopes: ['trips:read'], audiences: [TRAVEL],
      grant_types: ['client_credentials'], auth: { method: 'client_secret_basic' }, ...extra,
    });
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 201, body: { id, status: 'active' } });
    expect(typeof res.body.client_secret).toBe('string');
    return res.body.client_secret as string;
  };
  const clientCredentials = (id: string, secret: string) => request(app().server).post('/token').auth(id, secret).type('form')
    .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' });
  const issue = async (id: string, secret: string): Promise<string> => {
    const res = await clientCredentials(id, secret);
    expect({ id, status: res.status }).toEqual({ id, status: 200 });
    return res.body.access_token as string;
  };
  const refused = async (id: string, secret: string): Promise<void> => {
    const res = await clientCredentials(id, secret);
    expect({ id, status: res.status, error: res.body.error }).toEqual({ id, status: 401, error: 'invalid_client' });
  };
  const introspect = async (token: string): Promise<Record<string, unknown>> => {
    const res = await request(app().server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token }).expect(200);
    return res.body as Record<string, unknown>;
  };
  const agentView = async (id: string): Promise<Record<string, unknown>> => (await admin.get(`/admin/agents/${id}`).expect(200)).body as Record<string, unknown>;
  const auditEvents = (type: string): Record<string, unknown>[] => app().logs
    .map((line) => JSON.parse(line) as { audit?: boolean; event?: Record<string, unknown> })
    .filter((line) => line.audit === true && line.event?.type === type)
    .map((line) => line.event!);
  const backdate = (id: string, daysAgo: number) => app().governance.registry.update<AgentRecord>('agents', id, (r) => ({
    ...r, created_at: new Date(Date.now() - daysAgo * DAY_MS).toISOString(),
  }));
  return { admin, createAgent, clientCredentials, issue, refused, introspect, agentView, auditEvents, backdate };
}

describe.each(STORE_KINDS)('agent lifecycle (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: kind, policy: lifecyclePolicy(idp, { suspend_overdue: true }) });
  });
  afterAll(() => t.close());
  const h = helpers(() => t);

  describe('expiry', () => {
    it('an agent past expires_at is refused at use time before any sweep; the sweep retires it (expired) and audits it', async () => {
      const secret = await h.createAgent('lc-exp-1', { expires_at: new Date(Date.now() + 3600_000).toISOString() });
      const before = await h.issue('lc-exp-1', secret);
      expect((await h.introspect(before)).active).toBe(true);

      await t.governance.registry.update<AgentRecord>('agents', 'lc-exp-1', (r) => ({ ...r, expires_at: '2020-01-01T00:00:00Z' }));
      await h.refused('lc-exp-1', secret);
      expect(await h.introspect(before)).toEqual({ active: false });
      // Not swept yet: the record still says active; the refusal came from the use-time check.
      expect(await h.agentView('lc-exp-1')).toMatchObject({ status: 'active' });
      expect(h.auditEvents('agent.retired').filter((e) => e.client_id === 'lc-exp-1')).toEqual([]);

      const report = await t.governance.sweep();
      expect(report.retired).toContain('lc-exp-1');
      expect(report.suspended).not.toContain('lc-exp-1');
      const view = await h.agentView('lc-exp-1');
      expect(view).toMatchObject({ status: 'retired', status_reason: 'expired' });
      expect(typeof view.retired_at).toBe('string');
      const events = h.auditEvents('agent.retired').filter((e) => e.client_id === 'lc-exp-1');
      expect(events).toEqual([expect.objectContaining({ type: 'agent.retired', outcome: 'success', reason: 'expired', client_id: 'lc-exp-1' })]);
      await h.refused('lc-exp-1', secret);

      // A retired agent is not swept (or audited) again.
      expect((await t.governance.sweep()).retired).not.toContain('lc-exp-1');
      expect(h.auditEvents('agent.retired').filter((e) => e.client_id === 'lc-exp-1')).toHaveLength(1);
    });

    it('an agent whose expires_at is still ahead keeps working and is left alone by the sweep', async () => {
      const secret = await h.createAgent('lc-exp-later', { expires_at: new Date(Date.now() + 3600_000).toISOString() });
      const report = await t.governance.sweep();
      expect(report.retired).not.toContain('lc-exp-later');
      expect(report.suspended).not.toContain('lc-exp-later');
      expect(await h.agentView('lc-exp-later')).toMatchObject({ status: 'active' });
      await h.issue('lc-exp-later', secret);
    });
  });

  describe('orphaning', () => {
    it('deactivating the owner through the admin API suspends its agents (orphaned) and their tokens go inactive', async () => {
      await h.admin.post('/admin/users', { id: 'lc-dave', name: 'Dave' }).expect(201);
      const secret1 = await h.createAgent('lc-dave-1', { owner: 'lc-dave' });
      const secret2 = await h.createAgent('lc-dave-2', { owner: 'lc-dave' });
      const token1 = await h.issue('lc-dave-1', secret1);
      const token2 = await h.issue('lc-dave-2', secret2);
      expect((await h.introspect(token1)).active).toBe(true);
      expect((await h.introspect(token2)).active).toBe(true);
      // An agent of another owner is not touched.
      const other = await h.createAgent('lc-not-dave');
      const otherToken = await h.issue('lc-not-dave', other);

      const res = await h.admin.patch('/admin/users/lc-dave', { status: 'deactivated' }).expect(200);
      expect(res.body.status).toBe('deactivated');

      for (const id of ['lc-dave-1', 'lc-dave-2']) {
        expect(await h.agentView(id)).toMatchObject({ id, status: 'suspended', status_reason: 'orphaned' });
        expect(h.auditEvents('agent.suspended').filter((e) => e.client_id === id)).toEqual([expect.objectContaining({ reason: 'orphaned' })]);
      }
      expect(await h.introspect(token1)).toEqual({ active: false });
      expect(await h.introspect(token2)).toEqual({ active: false });
      await h.refused('lc-dave-1', secret1);
      await h.refused('lc-dave-2', secret2);
      expect(await h.agentView('lc-not-dave')).toMatchObject({ status: 'active' });
      expect((await h.introspect(otherToken)).active).toBe(true);
    });

    it('an owner deactivated behind the API\'s back: refused at use time at once, suspended (orphaned) by the sweep', async () => {
      await h.admin.post('/admin/users', { id: 'lc-erin', name: 'Erin' }).expect(201);
      const secret = await h.createAgent('lc-erin-1', { owner: 'lc-erin' });
      const token = await h.issue('lc-erin-1', secret);
      expect((await h.introspect(token)).active).toBe(true);

      await t.governance.registry.update<UserRecord>('users', 'lc-erin', (u) => ({ ...u, status: 'deactivated' }));
      await h.refused('lc-erin-1', secret);
      expect(await h.introspect(token)).toEqual({ active: false });
      expect(await h.agentView('lc-erin-1')).toMatchObject({ status: 'active' });

      const report = await t.governance.sweep();
      expect(report.suspended).toContain('lc-erin-1');
      expect(report.retired).not.toContain('lc-erin-1');
      expect(await h.agentView('lc-erin-1')).toMatchObject({ status: 'suspended', status_reason: 'orphaned' });
      expect(h.auditEvents('agent.suspended').filter((e) => e.client_id === 'lc-erin-1')).toEqual([expect.objectContaining({ reason: 'orphaned' })]);
      // Already suspended: a second sweep reports nothing new for it.
      expect((await t.governance.sweep()).suspended).not.toContain('lc-erin-1');
    });
  });

  describe('overdue review with governance.suspend_overdue', () => {
    it('an agent overdue for review is refused at use time, suspended by the sweep (review_overdue), and a review resumes it', async () => {
      const secret = await h.createAgent('lc-rev-1');
      await h.issue('lc-rev-1', secret);
      // Tier 3 reviews every 180 days (the default tiers).
      await h.backdate('lc-rev-1', 181);
      await h.refused('lc-rev-1', secret);
      expect(await h.agentView('lc-rev-1')).toMatchObject({ status: 'active' });
      const overdue = await h.admin.get('/admin/reviews?overdue=true&limit=200').expect(200);
      expect(overdue.body.items.map((i: { id: string }) => i.id)).toContain('lc-rev-1');

      const report = await t.governance.sweep();
      expect(report.suspended).toContain('lc-rev-1');
      expect(await h.agentView('lc-rev-1')).toMatchObject({ status: 'suspended', status_reason: 'review_overdue' });
      await h.refused('lc-rev-1', secret);

      const reviewed = await h.admin.post('/admin/agents/lc-rev-1/review', { reviewer: 'alice' }).expect(200);
      expect(reviewed.body).toMatchObject({ status: 'active', last_reviewed_by: 'alice' });
      expect(reviewed.body).not.toHaveProperty('status_reason');
      expect(Date.parse(reviewed.body.review_due as string)).toBeGreaterThan(Date.now() + 170 * DAY_MS);
      await h.issue('lc-rev-1', secret);
      expect((await t.governance.sweep()).suspended).not.toContain('lc-rev-1');
      expect(await h.agentView('lc-rev-1')).toMatchObject({ status: 'active' });
    });

    it('the interval is the agent\'s tier\'s: a tier 3 agent 100 days old is not overdue, a tier 1 agent 31 days old is', async () => {
      const tier3 = await h.createAgent('lc-rev-tier3');
      const tier1 = await h.createAgent('lc-rev-tier1', { tier: 1 });
      await h.backdate('lc-rev-tier3', 100);
      await h.backdate('lc-rev-tier1', 31);
      await h.issue('lc-rev-tier3', tier3);
      await h.refused('lc-rev-tier1', tier1);
      const report = await t.governance.sweep();
      expect(report.suspended).toContain('lc-rev-tier1');
      expect(report.suspended).not.toContain('lc-rev-tier3');
    });

    it('a review does not lift a suspension an administrator made', async () => {
      const secret = await h.createAgent('lc-rev-admin');
      await h.admin.patch('/admin/agents/lc-rev-admin', { status: 'suspended' }).expect(200);
      const reviewed = await h.admin.post('/admin/agents/lc-rev-admin/review', {}).expect(200);
      expect(reviewed.body).toMatchObject({ status: 'suspended', status_reason: 'admin' });
      await h.refused('lc-rev-admin', secret);
    });

    it('a review does not resume an overdue agent whose owner has been deactivated since', async () => {
      await h.admin.post('/admin/users', { id: 'lc-zed', name: 'Zed' }).expect(201);
      const secret = await h.createAgent('lc-rev-orphan', { owner: 'lc-zed' });
      await h.backdate('lc-rev-orphan', 181);
      expect((await t.governance.sweep()).suspended).toContain('lc-rev-orphan');
      await h.admin.patch('/admin/users/lc-zed', { status: 'deactivated' }).expect(200);
      const reviewed = await h.admin.post('/admin/agents/lc-rev-orphan/review', {}).expect(200);
      expect(reviewed.body).toMatchObject({ status: 'suspended', status_reason: 'review_overdue' });
      expect(Date.parse(reviewed.body.last_reviewed_at as string)).toBeGreaterThan(Date.now() - 60_000);
      await h.refused('lc-rev-orphan', secret);
    });
  });

  describe('retiring an agent', () => {
    it('revokes its tokens and those minted from them, refuses its exchanged token as a subject, keeps its id taken, kills its credentials', async () => {
      const agentSecret = secretOf('lc-retire-me');
      const own = await h.issue('lc-retire-me', agentSecret);
      const forTravel = await exchange(t, 'lc-retire-me', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200);
      const handOff = await exchange(t, 'lc-retire-me', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
      // Before: B can take the task on, and everything is active.
      const child = await exchange(t, 'agent-b', { subject_token: handOff.body.access_token, resource: TRAVEL }).expect(200);
      expect(claimsOf(child.body.access_token).act).toEqual({ sub: 'agent-b', act: { sub: 'lc-retire-me' } });
      expect((await h.introspect(own)).active).toBe(true);
      expect((await h.introspect(forTravel.body.access_token)).active).toBe(true);
      expect((await h.introspect(child.body.access_token)).active).toBe(true);

      const retired = await h.admin.delete('/admin/agents/lc-retire-me').expect(200);
      expect(retired.body).toMatchObject({ id: 'lc-retire-me', status: 'retired', status_reason: 'admin' });

      expect(await h.introspect(own)).toEqual({ active: false });
      expect(await h.introspect(forTravel.body.access_token)).toEqual({ active: false });
      // The child was issued to agent-b (still active): only the revocation cascade makes it inactive.
      expect(await h.introspect(child.body.access_token)).toEqual({ active: false });
      const records = new TokenRecords(t.store);
      for (const token of [own, forTravel.body.access_token, handOff.body.access_token, child.body.access_token]) {
        const record = await records.get(claimsOf(token).jti as string);
        expect(typeof record?.revoked_at).toBe('number');
      }
      expect(h.auditEvents('agent.retired').filter((e) => e.client_id === 'lc-retire-me')).toEqual([expect.objectContaining({ reason: 'admin' })]);

      const again = await exchange(t, 'agent-b', { subject_token: handOff.body.access_token, resource: TRAVEL });
      expect({ status: again.status, error: again.body.error }).toEqual({ status: 400, error: 'invalid_request' });

      const reuse = await h.admin.post('/admin/agents', {
        id: 'lc-retire-me', name: 'Impostor', owner: 'alice', tier: 3, scopes: ['trips:read'], audiences: [TRAVEL], auth: { method: 'client_secret_basic' },
      });
      expect(reuse.status).toBe(409);
      expect(await h.agentView('lc-retire-me')).toMatchObject({ status: 'retired', name: 'lc-retire-me' });

      await h.refused('lc-retire-me', agentSecret);
      const exchanged = await exchange(t, 'lc-retire-me', { subject_token: await idp.token(), scope: 'trips:read' });
      expect({ status: exchanged.status, error: exchanged.body.error }).toEqual({ status: 401, error: 'invalid_client' });
      // Neither can it be resumed or given a new secret.
      expect((await h.admin.patch('/admin/agents/lc-retire-me', { status: 'active' })).status).toBe(409);
      expect((await h.admin.post('/admin/agents/lc-retire-me/secret', { method: 'client_secret_basic' })).status).toBe(409);
    });
  });

  describe('revoking a delegation', () => {
    it('makes the tokens issued under it inactive, and no new ones are issued; other delegations\' tokens are untouched', async () => {
      const created = await h.admin.post('/admin/delegations', { user: 'alice', agent: 'lc-deleg-agent', scopes: ['trips:read'], audiences: [TRAVEL] }).expect(201);
      const id = created.body.id as string;
      const issued = await exchange(t, 'lc-deleg-agent', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200);
      const unrelated = await exchange(t, 'agent-x', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200);
      expect((await h.introspect(issued.body.access_token)).active).toBe(true);

      const revoked = await h.admin.delete(`/admin/delegations/${id}`).expect(200);
      expect(revoked.body).toMatchObject({ id, status: 'revoked' });

      expect(await h.introspect(issued.body.access_token)).toEqual({ active: false });
      expect((await h.introspect(unrelated.body.access_token)).active).toBe(true);
      const after = await exchange(t, 'lc-deleg-agent', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' });
      expect({ status: after.status, error: after.body.error }).toEqual({ status: 400, error: 'invalid_request' });
      expect(h.auditEvents('delegation.revoked').filter((e) => e.delegation_id === id)).toHaveLength(1);
    });
  });
});

describe.each(STORE_KINDS)('agent lifecycle without suspend_overdue (%s store)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: kind, policy: TEST_POLICY });
  });
  afterAll(() => t.close());
  const h = helpers(() => t);

  it('an agent overdue for review keeps working and the sweep leaves it active (it is only listed as overdue)', async () => {
    const secret = await h.createAgent('lc-late-review');
    await h.backdate('lc-late-review', 400);
    const overdue = await h.admin.get('/admin/reviews?overdue=true&limit=200').expect(200);
    expect(overdue.body.items.map((i: { id: string }) => i.id)).toContain('lc-late-review');
    await h.issue('lc-late-review', secret);
    const report = await t.governance.sweep();
    expect(report.suspended).not.toContain('lc-late-review');
    expect(await h.agentView('lc-late-review')).toMatchObject({ status: 'active' });
    await h.issue('lc-late-review', secret);
  });
});

describe.each(STORE_KINDS)('the lifecycle sweeper (%s store)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: kind, policy: { ...TEST_POLICY, governance: { sweep_interval_seconds: 5 } } });
  });
  afterAll(() => t.close());
  const h = helpers(() => t);

  it('startSweeper() returns a stop function and sweeps without being asked: an expired agent becomes retired', async () => {
    await h.createAgent('lc-swept', { expires_at: new Date(Date.now() + 3600_000).toISOString() });
    await t.governance.registry.update<AgentRecord>('agents', 'lc-swept', (r) => ({ ...r, expires_at: '2020-01-01T00:00:00Z' }));
    expect(await h.agentView('lc-swept')).toMatchObject({ status: 'active' });

    const stop = t.governance.startSweeper();
    try {
      expect(typeof stop).toBe('function');
      // Bounded wait (generous; the first sweep starts at once) for the sweep to finish: it logs its report.
      const sweepDone = (): boolean => t.logs.some((line) => (JSON.parse(line) as { msg?: string }).msg === 'lifecycle sweep');
      for (let i = 0; i < 150 && !sweepDone(); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await h.agentView('lc-swept')).toMatchObject({ status: 'retired', status_reason: 'expired' });
      const report = t.logs.map((line) => JSON.parse(line) as { msg?: string; retired?: string[] }).find((line) => line.msg === 'lifecycle sweep');
      expect(report?.retired).toEqual(['lc-swept']);
    } finally {
      stop();
    }
  });
});

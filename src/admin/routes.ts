import type { Approvals } from '../approvals/approvals.js';
import type { ApprovalRecord } from '../approvals/records.js';
import type { Trace } from '../audit/trace.js';
import { decodeCursor, type AuditTrail } from '../audit/trail.js';
import type { Enrollments } from '../passkeys/enrollment.js';
import type { PasskeyRecord, Passkeys } from '../passkeys/passkeys.js';
import { conflict, invalidField, notFound } from '../registry/errors.js';
import type { Governance } from '../registry/governance.js';
import type { AgentRecord, DelegationRecord, UserRecord } from '../registry/records.js';
import type { ShadowAgents } from '../registry/shadow.js';
import { route, type Route } from './router.js';
import * as s from './schemas.js';

/**
 * Every admin route (SPEC section 8): what it accepts, what it answers, and the governance
 * operation behind it. Handlers only translate; the rules live in src/registry/governance.ts.
 */
export interface AdminDeps {
  governance: Governance;
  shadow: ShadowAgents;
  approvals: Approvals;
  passkeys: Passkeys;
  enrollments: Enrollments;
  /** Default lifetime of an enrollment link (limits.enrollment_ttl_seconds). */
  enrollmentTtlSeconds: number;
  audit: AuditTrail;
  trace: (jti: string) => Promise<Trace | undefined>;
}

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();

/** An approval as the API shows it: ISO times, its state (expired included), no secrets or issuance plan. */
export function approvalView(a: ApprovalRecord, approvals: Approvals): Record<string, unknown> {
  return {
    id: a.id, status: approvals.stateOf(a), reason: a.reason, consent: a.consent, approval_uri: approvals.uriOf(a.id), agent: a.agent,
    approver: a.approver, subject: a.subject, scopes: a.scopes, audience: a.audience,
    ...(a.authorization_details ? { authorization_details: a.authorization_details } : {}),
    ...(a.binding_message !== undefined ? { binding_message: a.binding_message } : {}),
    created_at: iso(a.created_at), expires_at: iso(a.expires_at),
    ...(a.decided_at !== undefined ? { decided_at: iso(a.decided_at) } : {}),
    ...(a.redeemed_at !== undefined ? { redeemed_at: iso(a.redeemed_at) } : {}),
    ...(a.delegation_id !== undefined ? { delegation_id: a.delegation_id } : {}),
    ...(a.jti !== undefined ? { jti: a.jti } : {}),
  };
}

/** A passkey as the API shows it: everything but the public key bytes. */
const passkeyView = ({ public_key: _key, ...rest }: PasskeyRecord): Omit<PasskeyRecord, 'public_key'> => rest;

/** WebAuthn credential ids are base64url of up to 1023 bytes. */
const CREDENTIAL_ID = '^[A-Za-z0-9_-]{1,1364}$';

/** An agent as the API shows it: no secret digest, with its review due date. */
export function agentView(agent: AgentRecord, governance: Governance): Record<string, unknown> {
  const { auth, ...rest } = agent;
  const shownAuth = 'secret_digest' in auth ? { method: auth.method } : auth;
  return { ...rest, auth: shownAuth, review_due: governance.reviewDueOf(agent) };
}

const ok = (body: unknown, status = 200) => ({ status, body });

export function adminRoutes({ governance, shadow, approvals, passkeys, enrollments, enrollmentTtlSeconds, audit, trace }: AdminDeps): Route[] {
  const registry = governance.registry;
  const view = (agent: AgentRecord) => agentView(agent, governance);
  const ctx = (requestId: string) => ({ requestId });

  return [
    // ——— users ———
    route({
      method: 'POST', path: '/admin/users', operationId: 'createUser', summary: 'Register a user (owner, delegator, approver)',
      body: s.userCreate, responses: { 201: { description: 'created', schema: s.userView } }, errors: [400, 409],
      handle: async ({ body, requestId }) => ok(await governance.createUser(body, ctx(requestId)), 201),
    }),
    route({
      method: 'GET', path: '/admin/users', operationId: 'listUsers', summary: 'List users',
      query: s.userQuery, responses: { 200: { description: 'a page of users', schema: s.listOf(s.userView, 'UserList') } }, errors: [400],
      handle: async ({ query }) => ok(await registry.page<UserRecord>('users', {
        limit: query.limit, cursor: query.cursor, filter: (u) => !query.status || u.status === query.status,
      })),
    }),
    route({
      method: 'GET', path: '/admin/users/{id}', operationId: 'getUser', summary: 'Read a user',
      responses: { 200: { description: 'the user', schema: s.userView } }, errors: [400, 404],
      handle: async ({ params }) => ok(await governance.user(params.id!)),
    }),
    route({
      method: 'PATCH', path: '/admin/users/{id}', operationId: 'updateUser', summary: 'Change, deactivate or reactivate a user',
      body: s.userPatch, responses: { 200: { description: 'the changed user', schema: s.userView } }, errors: [400, 404, 409],
      handle: async ({ params, body, requestId }) => ok(await governance.updateUser(params.id!, body, ctx(requestId))),
    }),

    // ——— passkeys ———
    route({
      method: 'POST', path: '/admin/users/{id}/enrollments', operationId: 'createEnrollment', summary: 'Create a single-use passkey enrollment link for a user',
      body: s.enrollmentCreate, responses: { 201: { description: 'the link and when it expires', schema: s.enrollmentView } }, errors: [400, 404, 409],
      handle: async ({ params, body }) => {
        const user = await governance.user(params.id!);
        if (user.status !== 'active') throw conflict(`user ${user.id} is deactivated`, 'id');
        return ok(await enrollments.create(user.id, body.expires_in ?? enrollmentTtlSeconds), 201);
      },
    }),
    route({
      method: 'GET', path: '/admin/users/{id}/passkeys', operationId: 'listPasskeys', summary: 'List a user\'s passkeys',
      responses: { 200: { description: 'the user\'s passkeys (one page)', schema: s.listOf(s.passkeyView, 'PasskeyList') } }, errors: [400, 404],
      handle: async ({ params }) => {
        const user = await governance.user(params.id!);
        return ok({ items: (await passkeys.list(user.id)).map(passkeyView), next_cursor: null });
      },
    }),
    route({
      method: 'DELETE', path: '/admin/users/{id}/passkeys/{credential}', operationId: 'removePasskey', summary: 'Remove one of a user\'s passkeys',
      paramPatterns: { credential: CREDENTIAL_ID },
      responses: { 200: { description: 'the removed passkey', schema: s.passkeyView } }, errors: [400, 404],
      handle: async ({ params }) => {
        const user = await governance.user(params.id!);
        const removed = await passkeys.remove(user.id, params.credential!);
        if (!removed) throw notFound(`passkey of ${user.id}`, params.credential!);
        return ok(passkeyView(removed));
      },
    }),

    // ——— approvals ———
    route({
      method: 'GET', path: '/admin/approvals', operationId: 'listApprovals', summary: 'Recent approval requests, newest first, by status, user or agent',
      query: s.approvalQuery, responses: { 200: { description: 'a page of approval requests', schema: s.listOf(s.approvalView, 'ApprovalList') } }, errors: [400],
      handle: async ({ query }) => {
        const page = await approvals.page({
          limit: query.limit, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
          filter: (a) => (!query.status || approvals.stateOf(a) === query.status) && (!query.user || a.approver === query.user) && (!query.agent || a.client_id === query.agent),
        });
        return ok({ items: page.items.map((a) => approvalView(a, approvals)), next_cursor: page.next_cursor });
      },
    }),
    route({
      method: 'GET', path: '/admin/approvals/{id}', operationId: 'getApproval', summary: 'Read an approval request',
      responses: { 200: { description: 'the approval request', schema: s.approvalView } }, errors: [400, 404],
      handle: async ({ params }) => {
        const approval = await approvals.get(params.id!);
        if (!approval) throw notFound('approval request', params.id!);
        return ok(approvalView(approval, approvals));
      },
    }),

    // ——— agents ———
    route({
      method: 'POST', path: '/admin/agents', operationId: 'createAgent', summary: 'Register an agent',
      body: s.agentCreate, responses: { 201: { description: 'created; a generated secret is in client_secret, shown this once', schema: s.agentWithSecret } },
      errors: [400, 409],
      handle: async ({ body, requestId }) => {
        const { agent, clientSecret } = await governance.createAgent(body, ctx(requestId));
        return ok({ ...view(agent), ...(clientSecret ? { client_secret: clientSecret } : {}) }, 201);
      },
    }),
    route({
      method: 'GET', path: '/admin/agents', operationId: 'listAgents', summary: 'List agents, filtered by owner, tier or status',
      query: s.agentQuery, responses: { 200: { description: 'a page of agents', schema: s.listOf(s.agentView, 'AgentList') } }, errors: [400],
      handle: async ({ query }) => {
        const page = await registry.page<AgentRecord>('agents', {
          limit: query.limit, cursor: query.cursor,
          filter: (a) => (!query.owner || a.owner === query.owner) && (!query.tier || String(a.tier) === query.tier) && (!query.status || a.status === query.status),
        });
        return ok({ items: page.items.map(view), next_cursor: page.next_cursor });
      },
    }),
    route({
      method: 'GET', path: '/admin/agents/{id}', operationId: 'getAgent', summary: 'Read an agent',
      responses: { 200: { description: 'the agent', schema: s.agentView } }, errors: [400, 404],
      handle: async ({ params }) => ok(view(await governance.agent(params.id!))),
    }),
    route({
      method: 'PATCH', path: '/admin/agents/{id}', operationId: 'updateAgent', summary: 'Change an agent, or suspend / resume it with {"status"}',
      body: s.agentPatch, responses: { 200: { description: 'the changed agent', schema: s.agentView } }, errors: [400, 404, 409],
      handle: async ({ params, body, requestId }) => ok(view(await governance.updateAgent(params.id!, body, ctx(requestId)))),
    }),
    route({
      method: 'DELETE', path: '/admin/agents/{id}', operationId: 'retireAgent', summary: 'Retire an agent: tokens revoked, credentials dead, id never reused',
      responses: { 200: { description: 'the retired agent', schema: s.agentView } }, errors: [400, 404],
      handle: async ({ params, requestId }) => ok(view(await governance.retireAgent(params.id!, ctx(requestId)))),
    }),
    route({
      method: 'POST', path: '/admin/agents/{id}/secret', operationId: 'rotateAgentSecret', summary: 'Generate a new client secret (the old one stops working)',
      body: s.secretRotate, responses: { 200: { description: 'the agent with its new secret in client_secret, shown this once', schema: s.agentWithSecret } },
      errors: [400, 404, 409],
      handle: async ({ params, body, requestId }) => {
        const { agent, clientSecret } = await governance.rotateSecret(params.id!, body.method, ctx(requestId));
        return ok({ ...view(agent), client_secret: clientSecret });
      },
    }),
    route({
      method: 'POST', path: '/admin/agents/{id}/review', operationId: 'reviewAgent', summary: 'Record a review of an agent',
      body: s.reviewInput, responses: { 200: { description: 'the agent with its new review_due', schema: s.agentView } }, errors: [400, 404, 409],
      handle: async ({ params, body, requestId }) => ok(view(await governance.reviewAgent(params.id!, body.reviewer, ctx(requestId)))),
    }),
    route({
      method: 'GET', path: '/admin/reviews', operationId: 'listReviews', summary: 'Agents by review due date; overdue=true lists only overdue ones',
      query: s.reviewQuery, responses: { 200: { description: 'a page of review items', schema: s.listOf(s.reviewView, 'ReviewList') } }, errors: [400],
      handle: async ({ query }) => {
        const now = Date.now();
        const overdue = (a: AgentRecord) => Date.parse(governance.reviewDueOf(a)) <= now;
        const page = await registry.page<AgentRecord>('agents', {
          limit: query.limit, cursor: query.cursor,
          filter: (a) => a.status !== 'retired' && (query.overdue === undefined || overdue(a) === (query.overdue === 'true')),
        });
        const items = page.items.map((a) => ({
          id: a.id, name: a.name, owner: a.owner, tier: a.tier, status: a.status,
          ...(a.last_reviewed_at ? { last_reviewed_at: a.last_reviewed_at } : {}), review_due: governance.reviewDueOf(a), overdue: overdue(a),
        }));
        return ok({ items, next_cursor: page.next_cursor });
      },
    }),

    // ——— delegations ———
    route({
      method: 'POST', path: '/admin/delegations', operationId: 'createDelegation', summary: 'Allow an agent to act for a user or subject',
      body: s.delegationCreate, responses: { 201: { description: 'created', schema: s.delegationView } }, errors: [400, 409],
      handle: async ({ body, requestId }) => ok(await governance.createDelegation(body, ctx(requestId)), 201),
    }),
    route({
      method: 'GET', path: '/admin/delegations', operationId: 'listDelegations', summary: 'List delegations, filtered by agent, user or status',
      query: s.delegationQuery, responses: { 200: { description: 'a page of delegations', schema: s.listOf(s.delegationView, 'DelegationList') } }, errors: [400],
      handle: async ({ query }) => ok(await registry.page<DelegationRecord>('delegations', {
        limit: query.limit, cursor: query.cursor,
        filter: (d) => (!query.agent || d.agent === query.agent) && (!query.user || d.user === query.user) && (!query.status || d.status === query.status),
      })),
    }),
    route({
      method: 'GET', path: '/admin/delegations/{id}', operationId: 'getDelegation', summary: 'Read a delegation',
      responses: { 200: { description: 'the delegation', schema: s.delegationView } }, errors: [400, 404],
      handle: async ({ params }) => ok(await governance.delegation(params.id!)),
    }),
    route({
      method: 'DELETE', path: '/admin/delegations/{id}', operationId: 'revokeDelegation', summary: 'Revoke a delegation and every token issued under it',
      responses: { 200: { description: 'the revoked delegation', schema: s.delegationView } }, errors: [400, 404],
      handle: async ({ params, requestId }) => ok(await governance.revokeDelegation(params.id!, ctx(requestId))),
    }),

    // ——— shadow agents ———
    route({
      method: 'GET', path: '/admin/shadow-agents', operationId: 'listShadowAgents', summary: 'Unknown, suspended or retired client ids seen, most recent first',
      query: s.pageQuery, responses: { 200: { description: 'a page of sightings', schema: s.listOf(s.shadowAgentView, 'ShadowAgentList') } }, errors: [400],
      handle: async ({ query }) => ok(await shadow.list({ limit: query.limit, cursor: query.cursor })),
    }),

    // ——— audit trail ———
    route({
      method: 'GET', path: '/admin/audit', operationId: 'listAuditEvents', summary: 'Audit events, newest first, by subject, agent, token, type and time',
      query: s.auditQuery, responses: { 200: { description: 'a page of audit events', schema: s.listOf(s.auditEventView, 'AuditEventList') } }, errors: [400],
      handle: async ({ query }) => {
        if (query.cursor !== undefined && !decodeCursor(query.cursor)) throw invalidField('cursor', 'not a next_cursor value from a previous page');
        const since = query.since === undefined ? undefined : new Date(query.since);
        const until = query.until === undefined ? undefined : new Date(query.until);
        if (since && until && since >= until) throw invalidField('until', 'must be after since');
        return ok(await audit.list({
          limit: query.limit, ...(query.cursor !== undefined ? { cursor: query.cursor } : {}), ...(since ? { since } : {}), ...(until ? { until } : {}),
          ...(query.subject !== undefined ? { subject: query.subject } : {}), ...(query.agent !== undefined ? { agent: query.agent } : {}),
          ...(query.jti !== undefined ? { jti: query.jti } : {}), ...(query.type !== undefined ? { type: query.type } : {}),
        }));
      },
    }),
    route({
      method: 'GET', path: '/admin/audit/verify', operationId: 'verifyAuditTrail', summary: 'Verify the whole trail: every chain, anchor and checkpoint',
      responses: { 200: { description: 'the result; `first_bad` names the first place that fails', schema: s.auditVerifyView } }, errors: [],
      handle: async () => ok(await audit.verify()),
    }),
    route({
      method: 'GET', path: '/admin/audit/trace/{jti}', operationId: 'traceToken', summary: 'From a token back to the human decision that allowed it',
      paramPatterns: { jti: '^[A-Za-z0-9_-]{1,128}$' },
      responses: { 200: { description: 'the token, its chain of parent tokens, the origin and the human', schema: s.auditTraceView } }, errors: [400, 404],
      handle: async ({ params }) => {
        const found = await trace(params.jti!);
        if (!found) throw notFound('token in the audit trail', params.jti!);
        return ok(found);
      },
    }),
  ];
}

import { describe, expect, it } from '@jest/globals';

import type { UserConfig } from '../../src/config/policy-schema.js';
import type { ActClaim, AuthorizationDetail, VerifiedToken } from '../../src/exchange/types.js';
import { buildAct } from '../../src/policy/act.js';
import { checkAgentState } from '../../src/policy/agent-state.js';
import { approvalNeeded } from '../../src/policy/approval.js';
import { narrowAuthorizationDetails } from '../../src/policy/authorization-details.js';
import { decideAuthorization, type DelegationGrant } from '../../src/policy/authorization.js';
import { decideLifetime } from '../../src/policy/lifetime.js';
import { decideScope } from '../../src/policy/scope.js';
import { resolveTarget, type Target } from '../../src/policy/target.js';
import { agentConfig, TRAVEL, travelResource } from '../support/policy-fixtures.js';

// STYLE.md: policy decisions are pure functions over typed inputs. Each input below is frozen all
// the way down (a write would throw in this strict-mode module), and each call is repeated on a
// fresh unfrozen copy to show the answer depends on the inputs only.

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    const children: unknown[] = Object.values(value);
    for (const child of children) deepFreeze(child);
  }
  return value;
}

const NOW = 1_800_000_000;
const MANDATE = 'https://mandate.example';

const fixtures = () => {
  const travel = travelResource();
  const agent = agentConfig('travel-agent', { name: 'Travel booking agent', scopes: ['trips:book', 'trips:read'], may_delegate_to: ['hotel-agent'] });
  const owner: UserConfig = { id: 'alice', name: 'Alice Example', email: 'alice@example.com', status: 'active', subjects: [{ iss: 'https://idp.example.com', sub: '00u123' }] };
  const target: Target = { kind: 'resource', uri: TRAVEL, resource: travel };
  const subject: VerifiedToken = {
    issuer: MANDATE, mandateIssued: true, tokenType: 'access_token', sub: 'alice', aud: ['planner-agent'], scope: ['trips:read', 'trips:book'], exp: NOW + 600,
    jti: 'j1', clientId: 'planner-agent', act: { sub: 'planner-agent', act: { sub: 'root-agent' } }, mayAct: { sub: 'travel-agent' },
  };
  const delegations: DelegationGrant[] = [
    { id: 'd-partial', userId: 'alice', agent: 'travel-agent', scopes: ['trips:read'], audiences: [TRAVEL], expiresAt: NOW + 60 },
    { id: 'd-full', userId: 'alice', agent: 'travel-agent', scopes: ['trips:book', 'trips:read'], audiences: [TRAVEL] },
  ];
  const subjectAct: ActClaim = { sub: 'planner-agent', iss: MANDATE, act: { sub: 'root-agent' } };
  const details: AuthorizationDetail[] = [{ type: 'agent_task', task_id: 'trip-42', amount: { value: '10.00', currency: 'EUR' }, actions: ['book'] }];
  return { travel, agent, owner, target, subject, delegations, subjectAct, details };
};

/** Each decision, called with the inputs built from one set of fixtures. */
const calls: [string, (f: ReturnType<typeof fixtures>) => unknown, Record<string, unknown>][] = [
  ['resolveTarget', (f) => resolveTarget({ agent: f.agent, requested: [TRAVEL], resourceByUri: (uri) => (uri === TRAVEL ? f.travel : undefined), agentById: () => undefined }), { ok: true, value: { kind: 'resource', uri: TRAVEL } }],
  ['decideScope', (f) => decideScope({ requested: [], subjectScope: f.subject.scope, agentScopes: f.agent.scopes, targetScopes: f.travel.scopes, delegationScopes: f.delegations[1]!.scopes }), { ok: true, value: ['trips:read', 'trips:book'] }],
  ['decideLifetime', () => decideLifetime({ now: NOW, agentMaxTtl: 300, tierMaxTtl: 600, targetMaxTtl: 600, subjectExp: NOW + 600 }), { ok: true, value: 300 }],
  ['buildAct', (f) => buildAct({ agentId: 'travel-agent', subjectAct: f.subjectAct, maxDepth: 3, mandateIssuer: MANDATE }), { ok: true, value: { sub: 'travel-agent', act: { sub: 'planner-agent' } } }],
  ['decideAuthorization', (f) => decideAuthorization({
    agentId: 'travel-agent', subject: { ...f.subject, aud: [], mayAct: { sub: 'other' } }, identity: { iss: MANDATE, sub: 'alice', userId: 'alice' }, target: f.target,
    requestedScopes: ['trips:book', 'trips:read'], delegations: f.delegations, previousActor: { id: 'planner-agent', registered: true, mayDelegateTo: ['travel-agent'] }, now: NOW, mandateIssuer: MANDATE,
  }), { ok: true, value: { basis: 'delegation', delegation: { id: 'd-full' } } }],
  ['narrowAuthorizationDetails', (f) => narrowAuthorizationDetails([{ ...f.details[0]! }], f.details), { ok: true }],
  ['approvalNeeded', (f) => approvalNeeded({ tierApproval: 'high_risk', highRiskScopes: f.travel.high_risk_scopes, scopes: f.subject.scope ?? [] }), { needed: true, scopes: ['trips:book'] }],
  ['checkAgentState', (f) => checkAgentState({ clientId: f.agent.id, agent: f.agent, owner: f.owner, now: NOW }), { ok: true }],
];

describe('policy decisions are pure', () => {
  it.each(calls)('%s neither mutates its inputs nor depends on anything else', (_name, call, expected) => {
    const frozen = deepFreeze(fixtures());
    const answer = call(frozen);
    expect(answer).toMatchObject(expected);
    expect(frozen).toStrictEqual(fixtures());
    expect(call(fixtures())).toStrictEqual(answer);
    expect(call(frozen)).toStrictEqual(answer);
  });

  it('freezes deeply (the helper really guards nested members)', () => {
    const frozen = deepFreeze(fixtures());
    expect(Object.isFrozen(frozen.subject.act?.act)).toBe(true);
    expect(Object.isFrozen(frozen.delegations[1]!.scopes)).toBe(true);
    expect(() => frozen.agent.scopes.push('x')).toThrow(TypeError);
  });
});

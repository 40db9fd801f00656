import { describe, expect, it } from '@jest/globals';

import type { VerifiedToken } from '../../src/exchange/types.js';
import { decideAuthorization, type AuthorizationInput, type DelegationGrant, type PreviousActor } from '../../src/policy/authorization.js';
import type { Target } from '../../src/policy/target.js';
import { agentConfig, TRAVEL, travelResource } from '../support/policy-fixtures.js';

// SPEC section 5, rule 2: the agent may act for the subject only if the subject token's `aud`
// names it, or its `may_act` names it, or an active delegation covers subject → agent for the
// requested scopes and audience; a previous actor in `act` must have handed the task to it.

const NOW = 1_800_000_000;
const MANDATE = 'https://mandate.example';
const IDP = 'https://idp.example.com';
const travel = travelResource();
const hotelAgent = agentConfig('hotel-agent', { name: 'Hotel agent', tier: 3 });
const toTravel: Target = { kind: 'resource', uri: TRAVEL, resource: travel };
const toHotel: Target = { kind: 'agent', id: 'hotel-agent', agent: hotelAgent };

const subject = (over: Partial<VerifiedToken> = {}): VerifiedToken => ({
  issuer: IDP, mandateIssued: false, tokenType: 'access_token', sub: '00u123', aud: ['http://localhost:3000'], scope: ['trips:read', 'trips:book'], exp: NOW + 600, ...over,
});

const grant = (id: string, over: Partial<DelegationGrant> = {}): DelegationGrant => ({
  id, userId: 'alice', agent: 'travel-agent', scopes: ['trips:read', 'trips:book'], audiences: [TRAVEL], expiresAt: NOW + 3600, ...over,
});
const aliceGrant = grant('d-alice');

const input = (over: Partial<AuthorizationInput> = {}): AuthorizationInput => ({
  agentId: 'travel-agent',
  subject: subject(),
  identity: { iss: IDP, sub: '00u123', userId: 'alice' },
  target: toTravel,
  requestedScopes: ['trips:read'],
  delegations: [aliceGrant],
  now: NOW,
  mandateIssuer: MANDATE,
  ...over,
});

const refused = (description: string, reason: string): unknown => ({ ok: false, error: { error: 'invalid_request', description, reason } });
const NO_DELEGATION = refused(`no delegation allows agent travel-agent to act for alice at ${TRAVEL}`, 'no_delegation');
const viaDelegation = (delegation: DelegationGrant): unknown => ({ ok: true, value: { basis: 'delegation', delegation } });

const planner = (mayDelegateTo: string[]): PreviousActor => ({ id: 'planner-agent', registered: true, mayDelegateTo });

describe('decideAuthorization', () => {
  describe('basis: subject token addressed to the agent', () => {
    it('accepts aud naming the agent, without a delegation', () => {
      expect(decideAuthorization(input({ subject: subject({ aud: ['http://localhost:3000', 'travel-agent'] }), delegations: [] })))
        .toStrictEqual({ ok: true, value: { basis: 'audience' } });
    });

    it('prefers the audience over may_act and a delegation', () => {
      const both = subject({ aud: ['travel-agent'], mayAct: { sub: 'travel-agent' } });
      expect(decideAuthorization(input({ subject: both }))).toStrictEqual({ ok: true, value: { basis: 'audience' } });
    });
  });

  describe('basis: may_act', () => {
    it.each<[string, { sub: string; iss?: string }]>([
      ['without iss', { sub: 'travel-agent' }],
      ['with Mandate as iss', { sub: 'travel-agent', iss: MANDATE }],
    ])('accepts may_act naming the agent %s', (_case, mayAct) => {
      expect(decideAuthorization(input({ subject: subject({ mayAct }), delegations: [] }))).toStrictEqual({ ok: true, value: { basis: 'may_act' } });
    });

    it('prefers may_act over a delegation', () => {
      expect(decideAuthorization(input({ subject: subject({ mayAct: { sub: 'travel-agent' } }) }))).toStrictEqual({ ok: true, value: { basis: 'may_act' } });
    });

    it.each<[string, { sub: string; iss?: string }]>([
      ['another agent', { sub: 'hotel-agent' }],
      ['the agent at a foreign issuer', { sub: 'travel-agent', iss: IDP }],
    ])('ignores may_act naming %s', (_case, mayAct) => {
      expect(decideAuthorization(input({ subject: subject({ mayAct }), delegations: [] }))).toStrictEqual(NO_DELEGATION);
      expect(decideAuthorization(input({ subject: subject({ mayAct }) }))).toStrictEqual(viaDelegation(aliceGrant));
    });
  });

  describe('basis: delegation', () => {
    it('accepts a delegation from the user for this agent and resource', () => {
      expect(decideAuthorization(input())).toStrictEqual(viaDelegation(aliceGrant));
    });

    it('accepts a delegation from a non-user subject matching iss and sub', () => {
      const bySubject = grant('d-subject', { userId: undefined, subject: { iss: IDP, sub: 'svc-7' } });
      expect(decideAuthorization(input({ identity: { iss: IDP, sub: 'svc-7' }, delegations: [bySubject] }))).toStrictEqual(viaDelegation(bySubject));
    });

    it('accepts a delegation without expiry', () => {
      const forever = grant('d-forever', { expiresAt: undefined });
      expect(decideAuthorization(input({ delegations: [forever] }))).toStrictEqual(viaDelegation(forever));
    });

    it('accepts a delegation expiring one second after now', () => {
      const last = grant('d-last', { expiresAt: NOW + 1 });
      expect(decideAuthorization(input({ delegations: [last] }))).toStrictEqual(viaDelegation(last));
    });

    it('covers a hand-off to another agent whatever the delegation audiences', () => {
      expect(decideAuthorization(input({ target: toHotel }))).toStrictEqual(viaDelegation(aliceGrant));
    });

    it('prefers the delegation covering all requested scopes over an earlier partial one', () => {
      const partial = grant('d-partial', { scopes: ['trips:read'] });
      const covering = grant('d-covering');
      expect(decideAuthorization(input({ requestedScopes: ['trips:read', 'trips:book'], delegations: [partial, covering] }))).toStrictEqual(viaDelegation(covering));
    });

    it('takes the first match when nothing is requested', () => {
      const partial = grant('d-partial', { scopes: ['trips:read'] });
      expect(decideAuthorization(input({ requestedScopes: [], delegations: [partial, aliceGrant] }))).toStrictEqual(viaDelegation(partial));
    });

    it('falls back to the first match when none covers the request (scope decides later)', () => {
      const readOnly = grant('d-read', { scopes: ['trips:read'] });
      const other = grant('d-other', { scopes: ['trips:cancel'] });
      expect(decideAuthorization(input({ requestedScopes: ['trips:book'], delegations: [readOnly, other] }))).toStrictEqual(viaDelegation(readOnly));
    });

    it('skips delegations that do not apply when choosing the first match', () => {
      const expired = grant('d-expired', { expiresAt: NOW });
      const partial = grant('d-partial', { scopes: ['trips:read'] });
      expect(decideAuthorization(input({ requestedScopes: ['trips:book'], delegations: [expired, partial] }))).toStrictEqual(viaDelegation(partial));
    });

    it.each<[string, DelegationGrant]>([
      ['expiring now', grant('d', { expiresAt: NOW })],
      ['expired', grant('d', { expiresAt: NOW - 1 })],
      ['for another agent', grant('d', { agent: 'hotel-agent' })],
      ['from another user', grant('d', { userId: 'bob' })],
      ['for another resource', grant('d', { audiences: ['https://mail.example'] })],
      ['naming neither user nor subject', grant('d', { userId: undefined })],
      ['from a subject at another issuer', grant('d', { userId: undefined, subject: { iss: 'https://other-idp.example', sub: '00u123' } })],
      ['from another subject at the same issuer', grant('d', { userId: undefined, subject: { iss: IDP, sub: '00u999' } })],
      ['from a user with a subject that matches (user wins)', grant('d', { userId: 'bob', subject: { iss: IDP, sub: '00u123' } })],
    ])('refuses without another basis when the only delegation is %s', (_case, delegation) => {
      expect(decideAuthorization(input({ delegations: [delegation] }))).toStrictEqual(NO_DELEGATION);
    });

    it('does not match a user delegation to a subject that is not a user', () => {
      expect(decideAuthorization(input({ identity: { iss: IDP, sub: '00u123' } })))
        .toStrictEqual(refused(`no delegation allows agent travel-agent to act for 00u123 at ${TRAVEL}`, 'no_delegation'));
    });

    it('names the agent target in the refusal', () => {
      expect(decideAuthorization(input({ target: toHotel, delegations: [] })))
        .toStrictEqual(refused('no delegation allows agent travel-agent to act for alice at hotel-agent', 'no_delegation'));
    });
  });

  describe('chain rule: a previous actor must have handed the task over', () => {
    it('accepts a previous actor whose may_delegate_to names the agent, then looks for a basis', () => {
      expect(decideAuthorization(input({ previousActor: planner(['travel-agent']) }))).toStrictEqual(viaDelegation(aliceGrant));
      expect(decideAuthorization(input({ previousActor: planner(['travel-agent']), delegations: [] }))).toStrictEqual(NO_DELEGATION);
    });

    it('accepts a previous actor that minted the subject token with audience = the agent', () => {
      expect(decideAuthorization(input({ previousActor: planner([]), subject: subject({ aud: ['travel-agent'] }) })))
        .toStrictEqual({ ok: true, value: { basis: 'audience' } });
    });

    it.each<[string, Partial<AuthorizationInput>]>([
      ['with a delegation', {}],
      ['with may_act', { subject: subject({ mayAct: { sub: 'travel-agent' } }) }],
    ])('refuses a previous actor that may not delegate to the agent, even %s', (_case, over) => {
      expect(decideAuthorization(input({ previousActor: planner(['hotel-agent']), ...over })))
        .toStrictEqual(refused('agent planner-agent may not delegate to travel-agent', 'delegation_not_allowed'));
    });

    it('refuses an unregistered previous actor, even when aud names the agent', () => {
      const previousActor: PreviousActor = { id: 'ghost-agent', registered: false };
      expect(decideAuthorization(input({ previousActor, subject: subject({ aud: ['travel-agent'] }) })))
        .toStrictEqual(refused('subject_token act names unregistered agent ghost-agent', 'unregistered_actor'));
    });
  });
});

describe('decideAuthorization reads the chain from the subject token too', () => {
  const fromPlanner = (over: Partial<VerifiedToken> = {}): VerifiedToken => subject({ act: { sub: 'planner-agent', act: { sub: 'root-agent' } }, ...over });

  it('applies the hand-off rule to the outermost actor of the token', () => {
    expect(decideAuthorization(input({ subject: fromPlanner(), previousActor: planner(['travel-agent']) }))).toStrictEqual(viaDelegation(aliceGrant));
    expect(decideAuthorization(input({ subject: fromPlanner(), previousActor: planner([]) })))
      .toStrictEqual(refused('agent planner-agent may not delegate to travel-agent', 'delegation_not_allowed'));
  });

  it('fails closed when the caller gives no previous actor for a chain that has one', () => {
    expect(decideAuthorization(input({ subject: fromPlanner({ aud: ['travel-agent'] }) })))
      .toStrictEqual(refused('subject_token act names unregistered agent planner-agent', 'unregistered_actor'));
  });

  it('fails closed when the previous actor given is not the one in the token', () => {
    const previousActor: PreviousActor = { id: 'root-agent', registered: true, mayDelegateTo: ['travel-agent'] };
    expect(decideAuthorization(input({ subject: fromPlanner(), previousActor })))
      .toStrictEqual(refused('subject_token act names unregistered agent planner-agent', 'unregistered_actor'));
  });

  it('treats an outermost actor with Mandate as iss as one of its agents', () => {
    expect(decideAuthorization(input({ subject: subject({ act: { sub: 'planner-agent', iss: MANDATE } }) })))
      .toStrictEqual(refused('subject_token act names unregistered agent planner-agent', 'unregistered_actor'));
  });

  it('skips the hand-off rule for a re-exchange by the same agent', () => {
    expect(decideAuthorization(input({ subject: subject({ act: { sub: 'travel-agent', act: { sub: 'planner-agent' } } }) }))).toStrictEqual(viaDelegation(aliceGrant));
  });

  it('skips the hand-off rule for an outermost actor from another issuer (not a Mandate agent)', () => {
    expect(decideAuthorization(input({ subject: subject({ act: { sub: 'planner-agent', iss: IDP } }) }))).toStrictEqual(viaDelegation(aliceGrant));
  });

  it('shows an unregistered actor id escaped', () => {
    expect(decideAuthorization(input({ subject: subject({ act: { sub: 'gh\u043est' } }) })))
      .toStrictEqual(refused('subject_token act names unregistered agent gh<U+043E>st', 'unregistered_actor'));
  });

  it('checks the chain before any basis: a hand-off refusal wins over may_act and delegations', () => {
    expect(decideAuthorization(input({ subject: fromPlanner({ mayAct: { sub: 'travel-agent' } }), previousActor: planner([]) })))
      .toStrictEqual(refused('agent planner-agent may not delegate to travel-agent', 'delegation_not_allowed'));
  });
});

describe('decideAuthorization: delegation identity', () => {
  it('matches a delegation naming both a user and a subject by the subject when the token maps to no user', () => {
    const both = grant('d-both', { subject: { iss: IDP, sub: '00u123' } });
    expect(decideAuthorization(input({ identity: { iss: IDP, sub: '00u123' }, delegations: [both] }))).toStrictEqual(viaDelegation(both));
  });

  it('shows an unmapped subject escaped in the refusal', () => {
    expect(decideAuthorization(input({ identity: { iss: IDP, sub: 'b\u043eb' }, delegations: [] })))
      .toStrictEqual(refused(`no delegation allows agent travel-agent to act for b<U+043E>b at ${TRAVEL}`, 'no_delegation'));
  });

  it('does not let a delegation for another agent of the same user stand in', () => {
    expect(decideAuthorization(input({ agentId: 'hotel-agent', delegations: [aliceGrant] })))
      .toStrictEqual(refused(`no delegation allows agent hotel-agent to act for alice at ${TRAVEL}`, 'no_delegation'));
  });
});

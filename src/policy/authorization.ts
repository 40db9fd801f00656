import { fail, ok, type Result, type VerifiedToken } from '../exchange/types.js';
import type { Target } from './target.js';

/** A standing permission subject → agent (from the policy file, later also the admin API). */
export interface DelegationGrant {
  id: string;
  userId?: string;
  subject?: { iss: string; sub: string };
  agent: string;
  scopes: string[];
  audiences: string[];
  /** Epoch seconds. */
  expiresAt?: number;
}

/** Who the subject token is about; `userId` when it maps to a Mandate user. */
export interface SubjectIdentity {
  iss: string;
  sub: string;
  userId?: string;
}

/** The outermost actor of the subject token's chain, when it is another agent. */
export type PreviousActor = { id: string; registered: true; mayDelegateTo: string[] } | { id: string; registered: false };

export interface AuthorizationInput {
  agentId: string;
  subject: VerifiedToken;
  identity: SubjectIdentity;
  target: Target;
  requestedScopes: readonly string[];
  delegations: readonly DelegationGrant[];
  previousActor?: PreviousActor;
  now: number;
  mandateIssuer: string;
}

export type AuthorizationBasis = { basis: 'audience' | 'may_act' | 'delegation'; delegation?: DelegationGrant };

const targetName = (target: Target): string => (target.kind === 'resource' ? target.uri : target.id);

function matchesIdentity(d: DelegationGrant, identity: SubjectIdentity): boolean {
  if (d.userId !== undefined) return d.userId === identity.userId;
  return d.subject !== undefined && d.subject.iss === identity.iss && d.subject.sub === identity.sub;
}

/**
 * SPEC rule 2: may this agent act for this subject? First the chain (a previous actor must have
 * handed the task to this agent), then a basis: the subject token is addressed to the agent,
 * its `may_act` names it, or an active delegation covers subject → agent at the target.
 */
export function decideAuthorization(input: AuthorizationInput): Result<AuthorizationBasis> {
  const { agentId, subject, previousActor } = input;
  if (previousActor) {
    if (!previousActor.registered) return fail('invalid_request', `subject_token act names unregistered agent ${previousActor.id}`, 'unregistered_actor');
    if (!previousActor.mayDelegateTo.includes(agentId) && !subject.aud.includes(agentId)) {
      return fail('invalid_request', `agent ${previousActor.id} may not delegate to ${agentId}`, 'delegation_not_allowed');
    }
  }
  if (subject.aud.includes(agentId)) return ok({ basis: 'audience' });
  if (subject.mayAct?.sub === agentId && (subject.mayAct.iss === undefined || subject.mayAct.iss === input.mandateIssuer)) {
    return ok({ basis: 'may_act' });
  }
  const candidates = input.delegations.filter((d) => d.agent === agentId
    && matchesIdentity(d, input.identity)
    && (d.expiresAt === undefined || d.expiresAt > input.now)
    && (input.target.kind === 'agent' || d.audiences.includes(input.target.uri)));
  const covering = candidates.find((d) => input.requestedScopes.every((s) => d.scopes.includes(s)));
  const delegation = covering ?? candidates[0];
  if (delegation) return ok({ basis: 'delegation', delegation });
  return fail('invalid_request', `no delegation allows agent ${agentId} to act for ${input.identity.userId ?? input.identity.sub} at ${targetName(input.target)}`, 'no_delegation');
}

import { fail, ok, type Result, type VerifiedToken } from '../exchange/types.js';
import { visible } from './scope.js';
import type { Target } from './target.js';

/** A standing permission subject → agent (from the policy file, the admin API or a consent approval). */
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
  /** What the registry knows of the outermost actor in `subject.act`, when it is not this agent. */
  previousActor?: PreviousActor;
  /** Epoch seconds. */
  now: number;
  mandateIssuer: string;
}

export type AuthorizationBasis = { basis: 'audience' | 'may_act' | 'delegation'; delegation?: DelegationGrant };

const targetName = (target: Target): string => (target.kind === 'resource' ? target.uri : target.id);

/** The same user when both sides know the user; otherwise the same external identity. */
function sameSubject(d: DelegationGrant, identity: SubjectIdentity): boolean {
  if (d.userId !== undefined && identity.userId !== undefined) return d.userId === identity.userId;
  return d.subject !== undefined && d.subject.iss === identity.iss && d.subject.sub === identity.sub;
}

/**
 * The actor whose hand-off rule applies. The caller says what the registry knows of the
 * subject's outermost actor; the token itself is read too, so that a caller forgetting (or
 * mixing up) that actor fails closed instead of skipping the rule. An outermost actor from
 * another issuer, or the requesting agent itself (re-exchange), hands nothing on.
 */
function previousActorOf(input: AuthorizationInput): PreviousActor | undefined {
  const outer = input.subject.act;
  const ours = outer !== undefined && outer.sub !== input.agentId && (outer.iss === undefined || outer.iss === input.mandateIssuer);
  if (!ours) return input.previousActor;
  return input.previousActor?.id === outer.sub ? input.previousActor : { id: outer.sub, registered: false };
}

/**
 * SPEC rule 2: may this agent act for this subject? First the chain (a previous actor must have
 * handed the task to this agent), then a basis: the subject token is addressed to the agent,
 * its `may_act` names it, or an active delegation covers subject → agent at the target.
 */
export function decideAuthorization(input: AuthorizationInput): Result<AuthorizationBasis> {
  const { agentId, subject } = input;
  const previous = previousActorOf(input);
  if (previous) {
    if (!previous.registered) return fail('invalid_request', `subject_token act names unregistered agent ${visible(previous.id)}`, 'unregistered_actor');
    if (!previous.mayDelegateTo.includes(agentId) && !subject.aud.includes(agentId)) {
      return fail('invalid_request', `agent ${previous.id} may not delegate to ${agentId}`, 'delegation_not_allowed');
    }
  }

  if (subject.aud.includes(agentId)) return ok({ basis: 'audience' });
  if (subject.mayAct?.sub === agentId && (subject.mayAct.iss === undefined || subject.mayAct.iss === input.mandateIssuer)) {
    return ok({ basis: 'may_act' });
  }
  const { target, now } = input;
  const candidates = input.delegations.filter((d) => d.agent === agentId
    && sameSubject(d, input.identity)
    && (d.expiresAt === undefined || d.expiresAt > now)
    && (target.kind === 'agent' || d.audiences.includes(target.uri)));
  // Prefer a delegation that covers every requested scope; otherwise the scope decision names what is missing.
  const delegation = candidates.find((d) => input.requestedScopes.every((s) => d.scopes.includes(s))) ?? candidates[0];
  if (delegation) return ok({ basis: 'delegation', delegation });
  const who = input.identity.userId ?? visible(input.identity.sub);
  return fail('invalid_request', `no delegation allows agent ${agentId} to act for ${who} at ${targetName(target)}`, 'no_delegation');
}

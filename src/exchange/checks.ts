import type { AgentConfig, Policy } from '../config/policy-schema.js';
import type { DelegationGrant, PreviousActor } from '../policy/authorization.js';
import type { LifetimeBounds } from '../policy/lifetime.js';
import { resolveTarget, type Target } from '../policy/target.js';
import type { Registry } from '../registry/registry.js';
import { usableAgent } from '../registry/usable-agent.js';
import type { TokenRecord } from '../tokens/records.js';
import { checkDpopProof } from './dpop.js';
import { must } from './errors.js';
import type { ExchangeDeps } from './exchange.js';
import { fail, type VerifiedToken } from './types.js';

/** The checks of a token exchange that need the registry, the store or the request (I/O at the edge). */

/** Rule 8: the authenticated client must be a usable agent (unknown, suspended, retired, expired, orphaned: invalid_client). */
export async function loadAgent(clientId: string, deps: ExchangeDeps, now: number): Promise<AgentConfig> {
  const entry = await deps.registry.client(clientId);
  if (entry?.kind === 'client') must(fail('unauthorized_client', `client ${clientId} is not an agent and may not use token exchange`));
  return must(await usableAgent(deps.registry, deps.policy, clientId, now, entry?.agent));
}

/** A verified token, with the stored record when Mandate issued it. */
export interface ActiveToken {
  token: VerifiedToken;
  record?: TokenRecord;
}

/** Rule 1: signature and claims, then for Mandate's own tokens the stored record (revocation). */
export async function verifiedActive(token: string, type: string, param: 'subject_token' | 'actor_token', deps: ExchangeDeps): Promise<ActiveToken> {
  const verified = must(await deps.verifier.verify(token, type, param));
  if (!verified.mandateIssued) return { token: verified };
  const record = await deps.records.get(verified.jti!);
  if (!deps.records.isActive(record)) must(fail('invalid_request', `${param} has been revoked or is not known`, 'revoked_token'));
  return { token: verified, record: record! };
}

/** Rule 3: the actor token must be the authenticated agent's, from the same chain as the subject. */
export function checkActor(actor: VerifiedToken, subject: VerifiedToken, agentId: string): void {
  if (actor.sub !== agentId) must(fail('invalid_request', `actor_token identifies ${actor.sub}, not the authenticated agent ${agentId}`, 'actor_mismatch'));
  if (actor.act !== undefined && JSON.stringify(actor.act) !== JSON.stringify(subject.act)) {
    must(fail('invalid_request', 'actor_token belongs to another delegation chain than subject_token', 'chain_splice'));
  }
}

/**
 * Every agent named in the subject's `act` must be registered and not suspended or retired (each
 * such name is a shadow-agent sighting, reported through `sight`); returns the outermost other actor.
 */
export async function checkChain(
  subject: VerifiedToken, agentId: string, deps: ExchangeDeps, sight: (actorId: string, reason: string) => Promise<void> | undefined = () => undefined,
): Promise<PreviousActor | undefined> {
  let outermost: AgentConfig | undefined;
  for (let entry = subject.act; entry; entry = entry.act) {
    if (entry.iss !== undefined && entry.iss !== deps.issuer) continue;
    const agent = await deps.registry.agent(entry.sub);
    if (!agent) {
      await sight(entry.sub, 'unregistered_actor');
      return must(fail('invalid_request', `subject_token act names unregistered agent ${entry.sub}`, 'unregistered_actor'));
    }
    if (agent.status !== 'active') {
      await sight(entry.sub, `agent_${agent.status}`);
      return must(fail('invalid_request', `subject_token act names agent ${entry.sub}, which is ${agent.status}`, 'inactive_actor'));
    }
    if (entry === subject.act) outermost = agent;
  }
  if (!outermost || outermost.id === agentId) return undefined;
  return { id: outermost.id, registered: true, mayDelegateTo: outermost.may_delegate_to };
}

/** A later hop stays within the delegation that allowed the first one. */
export async function inheritedDelegation(record: TokenRecord | undefined, deps: ExchangeDeps, now: number): Promise<DelegationGrant | undefined> {
  const id = record?.delegation_id;
  if (id === undefined) return undefined;
  const delegation = await deps.registry.delegation(id);
  if (!delegation || (delegation.expiresAt !== undefined && delegation.expiresAt <= now)) {
    must(fail('invalid_request', `delegation ${id} behind subject_token is no longer active`, 'delegation_inactive'));
  }
  return delegation;
}

/**
 * RFC 9449: the key the new token is bound to, if any. `require_dpop` agents need a proof; so does
 * a request bound to a key already (`bound`: a DPoP-bound subject token, or an approval request
 * made with a proof), and then the proof must come from that key.
 */
export async function bindingKey(
  proofs: readonly string[], agent: Pick<AgentConfig, 'id' | 'require_dpop'>, bound: { jkt: string; what: string } | undefined,
  deps: Pick<ExchangeDeps, 'issuer' | 'rememberDpopJti'>, now: number,
): Promise<string | undefined> {
  const jkt = must(await checkDpopProof({ proofs, method: 'POST', url: `${deps.issuer}/token`, now, remember: deps.rememberDpopJti }));
  if (jkt === undefined && agent.require_dpop) must(fail('invalid_dpop_proof', `agent ${agent.id} must send a DPoP proof`, 'dpop_required'));
  if (bound !== undefined && bound.jkt !== jkt) {
    must(fail('invalid_dpop_proof', `${bound.what} is DPoP-bound: a proof from the same key is required`, 'dpop_key_mismatch'));
  }
  return jkt;
}

/** Rule 5 with the one registry read it may need: resolveTarget is pure, so the candidate agent is fetched first. */
export async function requestedTarget(agent: AgentConfig, targets: readonly string[], registry: Registry): Promise<Target> {
  const candidate = targets.length === 1 ? targets[0]! : agent.default_audience;
  // A registered resource uri is never an agent id (ids have no '/'): no lookup needed.
  const candidateAgent = candidate === undefined || registry.resource(candidate) ? undefined : await registry.agent(candidate);
  return must(resolveTarget({
    agent, requested: targets, resourceByUri: (uri) => registry.resource(uri), agentById: (id) => (id === candidate ? candidateAgent : undefined),
  }));
}

/** Rule 7's bounds from the agent, its tier and the target; the caller adds the subject token's `exp`. */
export function lifetimeBounds(agent: AgentConfig, policy: Pick<Policy, 'tiers'>, target: Target): LifetimeBounds {
  return {
    ...(agent.max_token_ttl !== undefined ? { agentMaxTtl: agent.max_token_ttl } : {}),
    tierMaxTtl: policy.tiers[agent.tier].max_token_ttl,
    ...(target.kind === 'resource' && target.resource.max_token_ttl !== undefined ? { targetMaxTtl: target.resource.max_token_ttl } : {}),
  };
}

import { ApprovalPending, type Approvals } from '../approvals/approvals.js';
import type { AuditInput, AuditTrail } from '../audit/trail.js';
import type { Policy } from '../config/policy-schema.js';
import { MandateError } from '../errors.js';
import { buildAct, actorIds } from '../policy/act.js';
import { approvalNeeded } from '../policy/approval.js';
import { decideAuthorization } from '../policy/authorization.js';
import { narrowAuthorizationDetails, parseAuthorizationDetails } from '../policy/authorization-details.js';
import { decideLifetime } from '../policy/lifetime.js';
import { decideScope } from '../policy/scope.js';
import type { Target } from '../policy/target.js';
import type { Registry } from '../registry/registry.js';
import type { ShadowAgents } from '../registry/shadow.js';
import type { Store } from '../store/store.js';
import type { Minter } from '../tokens/mint.js';
import type { TokenRecords } from '../tokens/records.js';
import { bindingKey, checkActor, checkChain, inheritedDelegation, lifetimeBounds, loadAgent, requestedTarget, verifiedActive } from './checks.js';
import { ExchangeRefused, must } from './errors.js';
import { parseExchangeRequest } from './request.js';
import { newSubject, subjectIdentity } from './subjects.js';
import { fail } from './types.js';
import type { TokenVerifier } from './verify-token.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export interface ExchangeDeps {
  issuer: string;
  policy: Policy;
  registry: Registry;
  verifier: TokenVerifier;
  records: TokenRecords;
  store: Store;
  minter: Minter;
  audit: AuditTrail;
  /** Records agents named in `act` chains that are not registered or may not be used. */
  shadow?: ShadowAgents;
  /** Human approvals (SPEC section 6); without it a request that needs one is refused. */
  approvals?: Approvals;
  rememberDpopJti: (jkt: string, jti: string, ttlSeconds: number) => Promise<boolean>;
  now: () => number;
}

export interface ExchangeInput {
  clientId: string;
  params: Record<string, unknown>;
  dpopProofs: string[];
  requestId?: string;
  /** The caller's address, for shadow-agent sightings. */
  address?: string;
}

export interface ExchangeResponse {
  access_token: string;
  issued_token_type: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
}

/**
 * RFC 8693 token exchange as one story: check the request, the agent, the subject and actor
 * tokens; decide target, authorization, scope, task, `act`, lifetime and binding with pure
 * policy functions; mint; and record the decision. Every refusal is an ExchangeRefused and an
 * audit event. `audit` collects what is known so far, so a refusal says how far it got.
 */
export async function exchangeToken(input: ExchangeInput, deps: ExchangeDeps): Promise<ExchangeResponse> {
  const audit: AuditInput = { type: 'token.refused', outcome: 'failure', client_id: input.clientId, ...(input.requestId ? { request_id: input.requestId } : {}) };
  try {
    return await decideAndIssue(input, deps, audit);
  } catch (err) {
    // A pending approval is not a refusal: the approval service has recorded `approval.requested`.
    if (err instanceof MandateError && !(err instanceof ApprovalPending)) await recordRefusal(deps, audit, err);
    throw err;
  }
}

/** Refusals that are about the agent itself (SPEC section 7: shadow-agent/blocked events). */
const BLOCKED_REASONS = new Set(['unknown_agent', 'agent_suspended', 'agent_retired', 'agent_expired', 'owner_inactive', 'review_overdue', 'unregistered_actor', 'inactive_actor']);

async function recordRefusal(deps: ExchangeDeps, audit: AuditInput, err: MandateError): Promise<void> {
  const reason = err instanceof ExchangeRefused ? err.reason : err.error;
  const type = BLOCKED_REASONS.has(reason) ? 'agent.blocked' : audit.type;
  // Best effort: a refusal must not turn into a 500 because the store is also down.
  await deps.audit.recordBestEffort({ ...audit, type, reason });
}

async function decideAndIssue(input: ExchangeInput, deps: ExchangeDeps, audit: AuditInput): Promise<ExchangeResponse> {
  const { policy, issuer } = deps;
  const now = deps.now();
  const request = must(parseExchangeRequest(input.params));

  const agent = await loadAgent(input.clientId, deps, now);
  // Standing delegations do not depend on the subject token: read them while it is verified.
  const standing = deps.registry.delegationsFor(agent.id);
  standing.catch(() => undefined);
  const { token: subject, record: subjectRecord } = await verifiedActive(request.subjectToken, request.subjectTokenType, 'subject_token', deps);
  const identity = await subjectIdentity(subject, deps.registry, issuer);
  // The audit trail names the human in Mandate's namespace when known, so every hop agrees.
  const auditSubject = identity.userId !== undefined ? { iss: issuer, sub: identity.userId } : { iss: identity.iss, sub: identity.sub };
  Object.assign(audit, { subject: auditSubject, actors: actorIds(subject.act), ...(subject.jti ? { parent_jti: subject.jti } : {}) });
  if (request.actorToken !== undefined) {
    checkActor((await verifiedActive(request.actorToken, request.actorTokenType!, 'actor_token', deps)).token, subject, agent.id);
  }
  const previousActor = await checkChain(subject, agent.id, deps, (actorId, reason) => deps.shadow?.record({
    clientId: actorId, reason, endpoint: '/token', ...(input.address ? { address: input.address } : {}), ...(input.requestId ? { requestId: input.requestId } : {}),
  }));

  const target = await requestedTarget(agent, request.targets, deps.registry);
  audit.audience = targetId(target);
  const inherited = await inheritedDelegation(subjectRecord, deps, now);
  const delegations = inherited ? [inherited] : await standing;
  const basis = decideAuthorization({
    agentId: agent.id, subject, identity, target, requestedScopes: request.scopes, delegations, ...(previousActor ? { previousActor } : {}), now, mandateIssuer: issuer,
  });
  // SPEC section 6: no delegation, but the subject is a user with a passkey: ask them (consent).
  const consent = !basis.ok && basis.error.reason === 'no_delegation' && target.kind === 'resource'
    && identity.userId !== undefined && deps.approvals !== undefined && await deps.approvals.canApprove(identity.userId);
  const delegation = (consent ? undefined : must(basis).delegation) ?? inherited;
  if (delegation) {
    audit.delegation_id = delegation.id;
    if (target.kind === 'resource' && !delegation.audiences.includes(target.uri)) {
      must(fail('invalid_target', `delegation ${delegation.id} does not cover ${target.uri}`));
    }
  }

  const scopes = must(decideScope({
    requested: request.scopes,
    ...(subject.scope ? { subjectScope: subject.scope } : {}),
    agentScopes: agent.scopes,
    targetScopes: target.kind === 'resource' ? target.resource.scopes : target.agent.scopes,
    ...(delegation ? { delegationScopes: delegation.scopes } : {}),
  }));
  audit.scope = scopes.join(' ');
  const allowedTypes = target.kind === 'resource' ? target.resource.authorization_details_types : [];
  const details = must(narrowAuthorizationDetails(must(parseAuthorizationDetails(request.authorizationDetails, allowedTypes)), subject.authorizationDetails));
  const act = must(buildAct({ agentId: agent.id, ...(subject.act ? { subjectAct: subject.act } : {}), maxDepth: policy.limits.max_delegation_depth, mandateIssuer: issuer }));
  audit.actors = actorIds(act);

  const approval = approvalNeeded({ tierApproval: policy.tiers[agent.tier].approval, highRiskScopes: target.kind === 'resource' ? target.resource.high_risk_scopes : [], scopes });
  const lifetime = { ...lifetimeBounds(agent, policy, target), subjectExp: subject.exp };
  const ttl = must(decideLifetime({ now, ...lifetime }));
  const jkt = await bindingKey(input.dpopProofs, agent, subject.cnfJkt !== undefined ? { jkt: subject.cnfJkt, what: 'subject_token' } : undefined, deps, now);

  const { sub, subIss } = newSubject(identity, issuer);
  if (approval.needed || consent) {
    const why = !approval.needed ? `no delegation allows ${agent.id} to act for ${identity.userId}`
      : approval.reason === 'tier_always' ? `tier ${agent.tier} agent` : `high-risk scope ${approval.scopes.join(' ')}`;
    const approver = identity.userId;
    if (approver === undefined || !deps.approvals) {
      must(fail('invalid_request', `this request needs a human approval (${why}), but subject ${identity.sub} is not a Mandate user who could give it`, 'no_approver'));
    }
    if (!consent && !(await deps.approvals!.canApprove(approver!))) {
      must(fail('invalid_request', `this request needs ${approver}'s approval (${why}), but ${approver} has no passkey: an administrator can send an enrollment link (POST /admin/users/${approver}/enrollments)`, 'approver_without_passkey'));
    }
    const { answer } = await deps.approvals!.request({
      reason: consent || !approval.needed ? 'consent' : approval.reason, consent,
      agent: { id: agent.id, name: agent.name, owner: agent.owner, tier: agent.tier }, approver: approver!, subject: audit.subject!,
      scopes, audience: targetId(target), ...(details ? { authorization_details: details } : {}),
      issue: {
        grant_type: TOKEN_EXCHANGE, token_type: request.requestedTokenType, sub, ...(subIss ? { sub_iss: subIss } : {}), act,
        ...(subject.mandateIssued && subject.jti ? { parent_jti: subject.jti } : {}), ...(subject.jti ? { subject_jti: subject.jti } : {}),
        ...(delegation ? { delegation_id: delegation.id } : {}),
        ...(jkt ? { cnf_jkt: jkt } : {}), lifetime,
      },
      ...(input.requestId ? { requestId: input.requestId } : {}),
    });
    throw new ApprovalPending(answer, `a human approval is needed (${why}): ${approver} decides at ${answer.approval_uri}; poll the token endpoint with grant_type=urn:openid:params:grant-type:ciba and this auth_req_id`);
  }
  const scope = scopes.join(' ');
  const claims = { act, ...(details ? { authorization_details: details } : {}), ...(jkt ? { cnf: { jkt } } : {}), ...(subIss ? { sub_iss: subIss } : {}) };
  const minted = await deps.minter.mint({
    clientId: agent.id, sub, aud: targetId(target), scope, ttlSeconds: ttl, grantType: TOKEN_EXCHANGE,
    ...(subject.mandateIssued && subject.jti ? { parentJti: subject.jti } : {}),
    ...(delegation ? { delegationId: delegation.id } : {}),
    extraClaims: claims,
  }, (record) => [{ ...audit, type: 'token.issued', outcome: 'success', jti: record.jti }]);

  return {
    access_token: minted.accessToken,
    issued_token_type: request.requestedTokenType,
    token_type: jkt ? 'DPoP' : 'Bearer',
    expires_in: minted.expiresIn,
    scope,
  };
}

function targetId(target: Target): string {
  return target.kind === 'resource' ? target.uri : target.id;
}

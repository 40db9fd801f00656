import type { Policy } from '../config/policy-schema.js';
import { MandateError } from '../errors.js';
import { lifetimeBounds, requestedTarget } from '../exchange/checks.js';
import { must } from '../exchange/errors.js';
import { TOKEN_TYPE } from '../exchange/types.js';
import { buildAct } from '../policy/act.js';
import { parseAuthorizationDetails } from '../policy/authorization-details.js';
import { decideScope } from '../policy/scope.js';
import type { Registry } from '../registry/registry.js';
import { usableAgent } from '../registry/usable-agent.js';
import { CIBA_GRANT, type Approvals, type PendingAnswer } from './approvals.js';

/**
 * The CIBA backchannel authentication endpoint (OpenID CIBA 1.0, poll mode) for an agent that
 * holds no user token: it names the user (`login_hint` = a Mandate user id) and what it wants;
 * the user approves with a passkey, and the agent polls the token endpoint as after a pending
 * token exchange. The same checks as an exchange apply to the agent, target, scope and task.
 */
export interface BackchannelDeps {
  issuer: string;
  policy: Policy;
  registry: Registry;
  approvals: Approvals;
  now: () => number;
}

/** Printable text a person compares on two screens; CIBA's `invalid_binding_message` otherwise. */
const BINDING_MESSAGE = /^[^\p{Cc}\p{Cf}]{1,100}$/u;
const UNSUPPORTED = ['login_hint_token', 'id_token_hint', 'user_code', 'request', 'client_notification_token'] as const;

const list = (value: unknown): string[] => (value === undefined ? [] : [value].flat().filter((v): v is string => typeof v === 'string' && v !== ''));
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const bad = (error: string, description: string): MandateError => new MandateError(400, error, description);

export async function backchannelAuthentication(
  input: { clientId: string; params: Record<string, unknown>; requestId?: string }, deps: BackchannelDeps,
): Promise<PendingAnswer> {
  const { params } = input;
  const { policy, registry } = deps;
  for (const name of UNSUPPORTED) {
    if (params[name] !== undefined) throw bad('invalid_request', `${name} is not supported: name the user with login_hint (a Mandate user id)`);
  }
  const entry = await registry.client(input.clientId);
  if (entry?.kind !== 'agent') throw bad('unauthorized_client', `client ${input.clientId} is not an agent and may not ask for approvals`);
  const agent = must(await usableAgent(registry, policy, input.clientId, deps.now(), entry.agent));

  const loginHint = text(params.login_hint);
  if (loginHint === undefined) throw bad('invalid_request', 'login_hint is required: the id of the user who must approve');
  const user = await registry.user(loginHint);
  if (!user || user.status !== 'active') throw bad('unknown_user_id', `no active user ${loginHint.slice(0, 128)}`);
  if (!(await deps.approvals.canApprove(user.id))) {
    throw bad('invalid_request', `user ${user.id} has no passkey to approve with: an administrator can send an enrollment link (POST /admin/users/${user.id}/enrollments)`);
  }

  const scope = text(params.scope);
  if (scope === undefined) throw bad('invalid_request', 'scope is required');
  const requested = scope.split(' ').filter(Boolean);
  const targets = [...list(params.resource), ...list(params.audience)];
  const target = await requestedTarget(agent, targets, registry);
  if (target.kind !== 'resource') throw bad('invalid_target', 'a backchannel request must name a registered resource');
  const scopes = must(decideScope({ requested, agentScopes: agent.scopes, targetScopes: target.resource.scopes }));
  const details = must(parseAuthorizationDetails(text(params.authorization_details), target.resource.authorization_details_types));

  const bindingMessage = params.binding_message;
  if (bindingMessage !== undefined && (typeof bindingMessage !== 'string' || !BINDING_MESSAGE.test(bindingMessage))) {
    throw bad('invalid_binding_message', 'binding_message must be 1 to 100 printable characters');
  }
  const maxTtl = policy.limits.approval_ttl_seconds;
  let ttlSeconds = maxTtl;
  if (params.requested_expiry !== undefined) {
    const value = typeof params.requested_expiry === 'string' && /^\d{1,6}$/.test(params.requested_expiry) ? Number(params.requested_expiry) : NaN;
    if (!(value >= 1 && value <= maxTtl)) throw bad('invalid_request', `requested_expiry must be a whole number of seconds from 1 to ${maxTtl}`);
    ttlSeconds = value;
  }

  const act = must(buildAct({ agentId: agent.id, maxDepth: policy.limits.max_delegation_depth, mandateIssuer: deps.issuer }));
  const { answer } = await deps.approvals.request({
    reason: 'ciba', consent: false,
    agent: { id: agent.id, name: agent.name, owner: agent.owner, tier: agent.tier }, approver: user.id, subject: { iss: deps.issuer, sub: user.id },
    scopes, audience: target.uri, ...(details ? { authorization_details: details } : {}),
    ...(typeof bindingMessage === 'string' ? { binding_message: bindingMessage } : {}), ttlSeconds,
    issue: {
      grant_type: CIBA_GRANT, token_type: TOKEN_TYPE.access_token, sub: user.id, act, lifetime: lifetimeBounds(agent, policy, target),
    },
    ...(input.requestId ? { requestId: input.requestId } : {}),
  });
  return answer;
}

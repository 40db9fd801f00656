import { z } from 'zod';

import { agent as policyAgent, delegation as policyDelegation, httpsOrLocalUrl, id, jwks, keyAuth, timestamp, user as policyUser } from '../config/policy-schema.js';

/**
 * The admin API's request and response shapes, with the policy file's field names (SPEC section
 * 8). The OpenAPI document is generated from these same schemas, so what is validated is what is
 * documented.
 */

const generatedSecret = z.strictObject({
  method: z.enum(['client_secret_basic', 'client_secret_post']).describe('Mandate generates the secret and returns it once as `client_secret`'),
});

export const agentAuthInput = z.union([keyAuth, generatedSecret]).describe('private_key_jwt (recommended: no shared secret) or a generated client secret');

const agentShape = policyAgent.shape;

export const agentCreate = z.strictObject({
  id: agentShape.id,
  name: agentShape.name,
  owner: agentShape.owner,
  tier: agentShape.tier,
  scopes: agentShape.scopes,
  audiences: agentShape.audiences,
  default_audience: agentShape.default_audience,
  max_token_ttl: agentShape.max_token_ttl,
  may_delegate_to: agentShape.may_delegate_to,
  expires_at: agentShape.expires_at,
  require_dpop: agentShape.require_dpop,
  grant_types: agentShape.grant_types,
  auth: agentAuthInput,
}).meta({ id: 'AgentCreate' });

export const agentPatch = z.strictObject({
  name: agentShape.name.optional(),
  owner: agentShape.owner.optional(),
  tier: agentShape.tier.optional(),
  scopes: z.array(agentShape.scopes.unwrap().element).optional(),
  audiences: z.array(z.string().min(1)).optional(),
  default_audience: z.string().min(1).nullable().optional().describe('null clears it'),
  max_token_ttl: z.number().int().positive().max(900).nullable().optional().describe('null clears it'),
  may_delegate_to: z.array(id).optional(),
  expires_at: timestamp.nullable().optional().describe('null clears it'),
  require_dpop: z.boolean().optional(),
  grant_types: z.array(z.enum(['client_credentials'])).optional(),
  auth: keyAuth.optional().describe('new public keys; to switch to a generated secret use POST /admin/agents/{id}/secret'),
  status: z.enum(['active', 'suspended']).optional().describe('suspend or resume (retire with DELETE)'),
}).meta({ id: 'AgentPatch' });

export const secretRotate = z.strictObject({
  method: z.enum(['client_secret_basic', 'client_secret_post']).optional().describe('defaults to the agent\'s current secret method'),
}).meta({ id: 'SecretRotate' });

export const reviewInput = z.strictObject({
  reviewer: id.optional().describe('the user who reviewed the agent'),
}).meta({ id: 'Review' });

const authView = z.union([
  z.strictObject({ method: z.enum(['client_secret_basic', 'client_secret_post']), secret_env: z.string().optional() }),
  z.strictObject({ method: z.literal('private_key_jwt'), jwks: jwks.optional(), jwks_uri: httpsOrLocalUrl.optional() }),
]);

const meta = {
  created_at: timestamp,
  updated_at: timestamp,
  source: z.enum(['policy', 'admin', 'approval']).describe('where the record came from first (approval: a consent approval)'),
};

export const agentView = z.strictObject({
  id, name: z.string(), owner: id, tier: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  scopes: z.array(z.string()), audiences: z.array(z.string()), default_audience: z.string().optional(),
  max_token_ttl: z.number().int().optional(), may_delegate_to: z.array(id), expires_at: timestamp.optional(),
  require_dpop: z.boolean(), grant_types: z.array(z.string()), auth: authView,
  status: z.enum(['active', 'suspended', 'retired']),
  status_reason: z.string().optional().describe('why: admin, orphaned, review_overdue, expired'),
  last_reviewed_at: timestamp.optional(), last_reviewed_by: id.optional(), retired_at: timestamp.optional(),
  review_due: timestamp.describe('last review (or creation) + the tier\'s review_interval_days'),
  ...meta,
}).meta({ id: 'Agent' });

export const agentWithSecret = agentView.extend({
  client_secret: z.string().optional().describe('the generated secret: shown this once, never again'),
}).meta({ id: 'AgentWithSecret' });

export const userCreate = policyUser.meta({ id: 'UserCreate' });

export const userPatch = z.strictObject({
  name: z.string().min(1).optional(),
  email: z.email().nullable().optional().describe('null clears it'),
  status: z.enum(['active', 'deactivated']).optional().describe('deactivating suspends the user\'s agents (orphaned)'),
  subjects: policyUser.shape.subjects.unwrap().optional(),
}).meta({ id: 'UserPatch' });

export const userView = z.strictObject({
  id, name: z.string(), email: z.string().optional(), status: z.enum(['active', 'deactivated']),
  subjects: z.array(z.strictObject({ iss: z.string(), sub: z.string() })),
  ...meta,
}).meta({ id: 'User' });

export const delegationCreate = policyDelegation.meta({ id: 'DelegationCreate' });

export const delegationView = z.strictObject({
  id, user: id.optional(), subject: z.strictObject({ iss: z.string(), sub: z.string() }).optional(),
  agent: id, scopes: z.array(z.string()), audiences: z.array(z.string()), expires_at: timestamp.optional(),
  status: z.enum(['active', 'revoked']), revoked_at: timestamp.optional(),
  approval_id: z.string().optional().describe('the consent approval that created it'),
  ...meta,
}).meta({ id: 'Delegation' });

export const shadowAgentView = z.strictObject({
  client_id: z.string(), count: z.number().int().positive(), first_seen: timestamp, last_seen: timestamp,
  endpoints: z.array(z.string()), addresses: z.array(z.string()),
  reasons: z.array(z.string()).describe('unknown_agent, unregistered_actor, agent_suspended, agent_retired, …'),
}).meta({ id: 'ShadowAgent' });

export const reviewView = z.strictObject({
  id, name: z.string(), owner: id, tier: z.number().int(), status: z.enum(['active', 'suspended', 'retired']),
  last_reviewed_at: timestamp.optional(), review_due: timestamp, overdue: z.boolean(),
}).meta({ id: 'ReviewItem' });

export const enrollmentCreate = z.strictObject({
  expires_in: z.number().int().min(60).max(604_800).optional().describe('seconds the link stays valid (default limits.enrollment_ttl_seconds)'),
}).meta({ id: 'EnrollmentCreate' });

export const enrollmentView = z.strictObject({
  url: z.url().describe('single-use link to /enroll/{token}: hand it to the user over a trusted channel'),
  expires_at: timestamp,
}).meta({ id: 'Enrollment' });

export const passkeyView = z.strictObject({
  id: z.string().describe('WebAuthn credential id (base64url)'),
  user_id: id,
  counter: z.number().int().min(0),
  transports: z.array(z.string()),
  backup_eligible: z.boolean().describe('a synced (multi-device) passkey'),
  backed_up: z.boolean(),
  aaguid: z.string().optional().describe('authenticator model, when it says'),
  created_at: timestamp,
  last_used_at: timestamp.optional(),
}).meta({ id: 'Passkey' });

export const approvalView = z.strictObject({
  id: z.string(),
  status: z.enum(['pending', 'approved', 'denied', 'redeemed', 'expired']),
  reason: z.enum(['tier_always', 'high_risk_scope', 'consent', 'ciba']).describe('why a human must decide'),
  consent: z.boolean().describe('approving creates a delegation'),
  approval_uri: z.string(),
  agent: z.strictObject({ id, name: z.string(), owner: id, tier: z.number().int() }),
  approver: id,
  subject: z.strictObject({ iss: z.string(), sub: z.string() }),
  scopes: z.array(z.string()),
  audience: z.string(),
  authorization_details: z.array(z.record(z.string(), z.unknown())).optional(),
  binding_message: z.string().optional(),
  created_at: timestamp,
  expires_at: timestamp,
  decided_at: timestamp.optional(),
  redeemed_at: timestamp.optional(),
  delegation_id: z.string().optional(),
  jti: z.string().optional().describe('the token issued on redemption'),
}).meta({ id: 'Approval' });

export const errorBody = z.strictObject({
  error: z.string(),
  error_description: z.string().optional(),
  field: z.string().optional().describe('the request field at fault'),
}).meta({ id: 'Error' });

export const listOf = <T extends z.ZodType>(item: T, name: string) => z.strictObject({
  items: z.array(item),
  next_cursor: z.string().nullable().describe('pass as `cursor` for the next page; null on the last'),
}).meta({ id: name });

const limit = z.coerce.number().int().min(1).max(200).default(50).describe('page size (1–200)');
const cursor = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'a next_cursor value from a previous page').optional();

export const agentQuery = z.strictObject({
  owner: id.optional(), tier: z.enum(['1', '2', '3']).optional(), status: z.enum(['active', 'suspended', 'retired']).optional(), cursor, limit,
});
export const userQuery = z.strictObject({ status: z.enum(['active', 'deactivated']).optional(), cursor, limit });
export const delegationQuery = z.strictObject({
  agent: id.optional(), user: id.optional(), status: z.enum(['active', 'revoked']).optional(), cursor, limit,
});
export const pageQuery = z.strictObject({ cursor: z.string().regex(/^\d{1,6}$/, 'a next_cursor value from a previous page').optional(), limit });
export const approvalQuery = z.strictObject({
  status: z.enum(['pending', 'approved', 'denied', 'redeemed', 'expired']).optional(), user: id.optional(), agent: id.optional(), cursor, limit,
});
export const reviewQuery = z.strictObject({ overdue: z.enum(['true', 'false']).optional(), cursor, limit });

export const idParam = id;

// ——— audit trail (SPEC section 7) ———

const subjectRef = z.strictObject({ iss: z.string(), sub: z.string() });
const trailPosition = z.strictObject({ writer: z.string().describe('the process that wrote it (its chain)'), position: z.number().int().min(1) });

export const auditQuery = z.strictObject({
  subject: z.string().min(1).max(256).optional().describe('the `sub` of the human (or service) the events are about'),
  agent: id.optional().describe('the agent as client or anywhere in the actor chain'),
  jti: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'a token id').optional().describe('a token id'),
  type: z.string().regex(/^[a-z_]+(\.[a-z_]+)*(\.\*)?$/, 'an event type such as token.issued, or a family such as approval.*').optional(),
  since: timestamp.optional().describe('events at or after this time'),
  until: timestamp.optional().describe('events before this time'),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,512}$/, 'a next_cursor value from a previous page').optional(),
  limit,
});

export const auditEventView = z.strictObject({
  id: z.string(),
  time: timestamp,
  type: z.string().describe('token.issued, token.refused, token.revoked, approval.*, delegation.*, agent.*, user.*, shadow_agent.sighted'),
  outcome: z.enum(['success', 'failure']),
  reason: z.string().optional(),
  request_id: z.string().optional(),
  subject: subjectRef.optional(),
  actors: z.array(z.string()).optional().describe('agent ids, outermost first'),
  client_id: z.string().optional(),
  audience: z.string().optional(),
  scope: z.string().optional(),
  jti: z.string().optional(),
  parent_jti: z.string().optional(),
  delegation_id: z.string().optional(),
  approval_id: z.string().optional(),
  approver: z.string().optional(),
  trail: trailPosition,
}).meta({ id: 'AuditEvent' });

const badPosition = z.strictObject({
  writer: z.string(),
  position: z.number().int().min(0).describe('position in that writer\'s chain (0: a checkpoint)'),
  reason: z.string(),
  event_id: z.string().optional(),
});

export const auditVerifyView = z.strictObject({
  valid: z.boolean(),
  checked: z.number().int().min(0).describe('events examined'),
  first_bad: badPosition.nullable(),
  chains: z.array(z.strictObject({ writer: z.string(), checked: z.number().int(), last: z.number().int(), valid: z.boolean() })),
  checkpoints: z.number().int().min(0).describe('signed checkpoints checked'),
}).meta({ id: 'AuditVerification' });

const basis = z.union([
  z.strictObject({ type: z.literal('delegation'), id: z.string() }),
  z.strictObject({ type: z.literal('approval'), id: z.string(), approver: z.string().optional() }),
  z.strictObject({ type: z.literal('client_credentials'), client_id: z.string() }),
  z.strictObject({ type: z.literal('subject_token') }),
]);

const hop = z.strictObject({
  jti: z.string(),
  issued_at: timestamp,
  client_id: z.string().optional(),
  actors: z.array(z.string()),
  audience: z.string().optional(),
  scope: z.string().optional(),
  status: z.enum(['active', 'revoked', 'expired']),
  parent: z.strictObject({ jti: z.string(), issuer: z.enum(['mandate', 'external']) }).optional(),
  allowed_by: basis,
  event_id: z.string(),
  trail: trailPosition,
}).meta({ id: 'TraceHop' });

export const auditTraceView = z.strictObject({
  token: hop,
  chain: z.array(hop).describe('from the token back to the root, the token first'),
  origin: z.looseObject({ type: z.enum(['delegation', 'approval', 'client_credentials', 'subject_token']) })
    .describe('what allowed the root hop: the delegation (with its record) or the approval (consent: the delegation it created)'),
  subject: z.strictObject({ iss: z.string(), sub: z.string(), user: z.strictObject({ id: z.string(), name: z.string(), status: z.string() }).optional() }),
}).meta({ id: 'AuditTrace' });

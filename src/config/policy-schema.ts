import { z } from 'zod';

/**
 * The policy file (`config/mandate.yaml`, SPEC section 2): one schema, a doc line per key.
 * Objects are strict so that a misspelt key stops start-up instead of being ignored.
 */

export const scope = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token (printable ASCII, no spaces or quotes)');
export const httpsOrLocalUrl = z.url({ protocol: /^https?$/ });
export const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'an id of letters, digits, ".", "_", ":" or "-" (at most 128)');
export const timestamp = z.iso.datetime({ offset: true });
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');
export const seconds = z.number().int().positive();

const resource = z.strictObject({
  uri: httpsOrLocalUrl.describe('audience value of tokens for this resource (RFC 8707 resource indicator)'),
  name: z.string().min(1).describe('human-readable name, shown on approval pages'),
  scopes: z.array(scope).min(1).describe('scopes this resource understands; tokens for it carry only these'),
  high_risk_scopes: z.array(scope).default([]).describe('scopes that need a human approval for tier-2 agents'),
  max_token_ttl: seconds.max(900).optional().describe('upper bound on token lifetime for this resource (s)'),
  authorization_details_types: z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/)).default([])
    .describe('RFC 9396 types accepted for this resource besides agent_task'),
});

const tier = z.strictObject({
  max_token_ttl: seconds.max(900).describe('upper bound on token lifetime for agents of this tier (s)'),
  approval: z.enum(['always', 'high_risk', 'never']).describe('when a human must approve an exchange'),
  review_interval_days: z.number().int().positive().describe('how often an owner must review the agent'),
});

const limits = z.strictObject({
  max_delegation_depth: z.number().int().min(1).max(10).default(3).describe('longest `act` chain'),
  clock_skew_seconds: z.number().int().min(0).max(300).default(60).describe('tolerance for exp/nbf/iat'),
  max_subject_token_bytes: z.number().int().min(512).max(65536).default(8192).describe('size limit, checked before parsing'),
  approval_ttl_seconds: z.number().int().min(30).max(86400).default(600).describe('how long an approval request waits'),
  approval_poll_interval_seconds: z.number().int().min(1).max(60).default(5).describe('CIBA `interval`: how often an agent may poll a pending approval'),
  consent_delegation_ttl_seconds: z.number().int().min(60).max(31_536_000).default(2_592_000)
    .describe('lifetime of the delegation a consent approval creates (default 30 days)'),
  enrollment_ttl_seconds: z.number().int().min(60).max(604_800).default(86_400).describe('default lifetime of a passkey enrollment link'),
});

export const jwks = z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())) });

const trustedIssuer = z.strictObject({
  issuer: httpsOrLocalUrl.describe('`iss` of accepted subject tokens'),
  jwks_uri: httpsOrLocalUrl.optional().describe('where its public keys are fetched (cached)'),
  jwks: jwks.optional().describe('inline public keys instead of jwks_uri'),
  jwks_file: z.string().min(1).optional().describe('path of a JWKS file (re-read when an unknown kid appears)'),
  audiences: z.array(z.string().min(1)).min(1).describe('subject tokens must be addressed to one of these'),
  algorithms: z.array(z.enum(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'])).min(1).describe('pinned JWS algorithms'),
  token_types: z.array(z.enum(['access_token', 'jwt', 'id_token'])).default(['access_token', 'jwt']).describe('accepted subject_token_type values'),
}).refine((t) => [t.jwks_uri, t.jwks, t.jwks_file].filter(Boolean).length === 1, 'exactly one of jwks_uri, jwks or jwks_file');

const webauthn = z.strictObject({
  rp_id: z.string().min(1).describe('WebAuthn relying party id (a registrable domain)'),
  rp_name: z.string().min(1).default('Mandate').describe('shown by the authenticator'),
  origins: z.array(httpsOrLocalUrl).min(1).describe('exact origins allowed for ceremonies'),
});

export const user = z.strictObject({
  id: id.describe('user id: owner, delegator and approver references use it'),
  name: z.string().min(1).describe('display name'),
  email: z.email().optional().describe('contact address'),
  status: z.enum(['active', 'deactivated']).default('active').describe('deactivated users own nothing active'),
  subjects: z.array(z.strictObject({ iss: httpsOrLocalUrl, sub: z.string().min(1) })).default([])
    .describe('external identities ({iss, sub}) that are this user'),
});

const secretAuth = z.strictObject({
  method: z.enum(['client_secret_basic', 'client_secret_post']).describe('RFC 6749 client secret authentication'),
  secret_env: envName.describe('environment variable holding the secret (development default: "<id>-dev-secret")'),
});
export const keyAuth = z.strictObject({
  method: z.literal('private_key_jwt').describe('RFC 7523 client assertion signed by the client'),
  jwks: jwks.optional().describe('the client\'s public keys'),
  jwks_uri: httpsOrLocalUrl.optional().describe('where the client\'s public keys are published'),
}).refine((a) => Boolean(a.jwks) !== Boolean(a.jwks_uri), 'exactly one of jwks or jwks_uri');
const auth = z.union([secretAuth, keyAuth]);

const client = z.strictObject({
  id: id.describe('OAuth client_id'),
  name: z.string().min(1).optional().describe('display name'),
  auth: auth.describe('how the client authenticates at the token, introspection and revocation endpoints'),
  grant_types: z.array(z.enum(['client_credentials'])).default(['client_credentials']).describe('grants this client may use'),
  scopes: z.array(scope).default([]).describe('scopes the client may ask for'),
  audiences: z.array(z.string().min(1)).default([]).describe('resources (uri) the client may get tokens for'),
  resource_server: z.string().min(1).optional().describe('resource uri this client serves: it may introspect tokens addressed to it'),
});

export const agent = z.strictObject({
  id: id.describe('OAuth client_id of the agent'),
  name: z.string().min(1).describe('display name'),
  owner: id.describe('accountable user id (required)'),
  tier: z.union([z.literal(1), z.literal(2), z.literal(3)], { error: '1, 2 or 3' }).describe('risk tier: 1 = highest risk'),
  scopes: z.array(scope).default([]).describe('scopes the agent may ever hold'),
  audiences: z.array(z.string().min(1)).default([]).describe('resources (uri) the agent may get tokens for'),
  default_audience: z.string().min(1).optional().describe('target when a request names none'),
  max_token_ttl: seconds.max(900).optional().describe('upper bound on this agent\'s token lifetime (s)'),
  may_delegate_to: z.array(id).default([]).describe('agents this agent may hand a task to'),
  expires_at: timestamp.optional().describe('after this instant the agent is retired'),
  require_dpop: z.boolean().default(false).describe('tokens must be DPoP-bound (RFC 9449)'),
  status: z.enum(['active', 'suspended', 'retired']).default('active').describe('lifecycle state'),
  grant_types: z.array(z.enum(['client_credentials'])).default([]).describe('extra grants; token exchange is always allowed'),
  auth: auth.describe('how the agent authenticates; private_key_jwt recommended'),
});

export const delegation = z.strictObject({
  id: id.optional().describe('stable id (generated from the content when absent)'),
  user: id.optional().describe('the delegating user'),
  subject: z.strictObject({ iss: httpsOrLocalUrl, sub: z.string().min(1) }).optional().describe('a non-user subject instead of user'),
  agent: id.describe('the agent allowed to act'),
  scopes: z.array(scope).min(1).describe('scopes the agent may use for the subject'),
  audiences: z.array(z.string().min(1)).min(1).describe('resources the delegation covers'),
  expires_at: timestamp.optional().describe('end of the standing permission'),
}).refine((d) => Boolean(d.user) !== Boolean(d.subject), { message: 'exactly one of user or subject', path: ['user'] });

const redis = z.strictObject({
  key_prefix: z.string().regex(/^[A-Za-z0-9:_-]*$/).default('').describe('prepended to every key (several deployments on one Redis)'),
  cluster: z.strictObject({ nodes: z.array(z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) })).min(1) })
    .optional().describe('Redis Cluster seed nodes (REDIS_URL then only supplies credentials/TLS)'),
  sentinel: z.strictObject({
    name: z.string().min(1),
    sentinels: z.array(z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) })).min(1),
  }).optional().describe('Redis Sentinel: master name and sentinels'),
});

const governance = z.strictObject({
  suspend_overdue: z.boolean().default(false).describe('suspend agents whose review is overdue (at use and by the sweep)'),
  sweep_interval_seconds: z.number().int().min(5).max(86400).default(60).describe('how often the lifecycle sweep runs (expiry, orphans, overdue reviews)'),
});

const audit = z.strictObject({
  retention_days: z.number().int().min(1).max(3650).default(400).describe('events older than this are removed (behind a signed anchor, so the rest still verifies)'),
  max_events_per_writer: z.number().int().min(1000).optional().describe('keep at most this many events per writer (process); default: no limit'),
  checkpoint_interval_seconds: z.number().int().min(5).max(3600).default(60).describe('how often each writer signs a checkpoint of every chain\'s end'),
});

const DEFAULT_TIERS = {
  1: { max_token_ttl: 300, approval: 'always', review_interval_days: 30 },
  2: { max_token_ttl: 600, approval: 'high_risk', review_interval_days: 90 },
  3: { max_token_ttl: 900, approval: 'never', review_interval_days: 180 },
} as const;

export const policySchema = z.strictObject({
  resources: z.array(resource).min(1).describe('what agents may get tokens for'),
  tiers: z.strictObject({ 1: tier, 2: tier, 3: tier }).default(DEFAULT_TIERS).describe('risk tiers'),
  limits: limits.default({
    max_delegation_depth: 3, clock_skew_seconds: 60, max_subject_token_bytes: 8192, approval_ttl_seconds: 600,
    approval_poll_interval_seconds: 5, consent_delegation_ttl_seconds: 2_592_000, enrollment_ttl_seconds: 86_400,
  }),
  trusted_issuers: z.array(trustedIssuer).default([]).describe('external IdPs whose JWTs are accepted as subject tokens'),
  webauthn: webauthn.optional().describe('passkey relying party (default: the issuer\'s host and origin)'),
  notifications: z.strictObject({ approval_webhook: httpsOrLocalUrl.optional() }).default({}).describe('outbound notices'),
  users: z.array(user).default([]).describe('humans: owners, delegators, approvers'),
  clients: z.array(client).default([]).describe('plain OAuth clients that are not agents'),
  agents: z.array(agent).default([]).describe('registered agents'),
  delegations: z.array(delegation).default([]).describe('standing permissions subject → agent'),
  redis: redis.default({ key_prefix: '' }).describe('Redis topology beyond REDIS_URL'),
  governance: governance.default({ suspend_overdue: false, sweep_interval_seconds: 60 }).describe('agent lifecycle rules'),
  audit: audit.default({ retention_days: 400, checkpoint_interval_seconds: 60 }).describe('audit trail retention and checkpoints'),
});

export type Policy = z.infer<typeof policySchema>;
export type Resource = Policy['resources'][number];
export type ClientConfig = Policy['clients'][number];
export type UserConfig = Policy['users'][number];

/** A client secret Mandate generated (admin API): only its SHA-256 digest is kept. */
export interface GeneratedSecretAuth {
  method: 'client_secret_basic' | 'client_secret_post';
  secret_digest: string;
}

/** How a client authenticates: as the policy file declares it, or with a generated secret. */
export type ClientAuth = ClientConfig['auth'] | GeneratedSecretAuth;

/** An agent as the policy file declares it; registry records may also hold a generated secret. */
export type AgentConfig = Omit<Policy['agents'][number], 'auth'> & { auth: ClientAuth };

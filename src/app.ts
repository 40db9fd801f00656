import Koa from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';

import { Approvals } from './approvals/approvals.js';
import { webhookNotifier } from './approvals/webhook.js';
import type { AuditKeys } from './audit/audit-keys.js';
import { traceToken } from './audit/trace.js';
import { AuditTrail } from './audit/trail.js';
import type { Policy } from './config/policy-schema.js';
import type { ExchangeDeps } from './exchange/exchange.js';
import { createTokenVerifier } from './exchange/verify-token.js';
import { bodyLimit } from './http/body.js';
import { errorHandler } from './http/errors.js';
import { health } from './http/health.js';
import { jwtTokenParams } from './http/jwt-token-params.js';
import { createMetrics } from './http/metrics.js';
import { requestContext } from './http/request-context.js';
import { securityHeaders } from './http/security.js';
import type { KeyStore } from './keys/keystore.js';
import type { Logger } from './log.js';
import { MandateError, invalidRequest } from './errors.js';
import { BACKCHANNEL_GRANT } from './grants/ciba.js';
import { publishedGrantTypes } from './grants/index.js';
import { createJwtReferences } from './oidc/jwt-references.js';
import { pages } from './pages/pages.js';
import { Enrollments } from './passkeys/enrollment.js';
import { Passkeys } from './passkeys/passkeys.js';
import { WebAuthn, type RelyingParty } from './passkeys/webauthn.js';
import { createProvider } from './oidc/provider.js';
import { adminRouter } from './admin/router.js';
import { adminRoutes } from './admin/routes.js';
import { openApiDocument } from './admin/openapi.js';
import { watchForShadowAgents } from './http/shadow-watch.js';
import { Governance } from './registry/governance.js';
import type { ClientEntry } from './registry/registry.js';
import { secretDigests, type SecretResolver } from './registry/secrets.js';
import { ShadowAgents } from './registry/shadow.js';
import { StoreRegistry, withRequestReads } from './registry/store-registry.js';
import { usableAgent } from './registry/usable-agent.js';
import { dpopProofKey } from './store/keys.js';
import type { Store } from './store/store.js';
import { createMinter } from './tokens/mint.js';
import { TokenRecords } from './tokens/records.js';

/** Everything the app needs from outside; `main.ts` builds these, tests build their own. */
export interface AppDeps {
  issuer: string;
  policy: Policy;
  store: Store;
  keys: KeyStore;
  secrets: SecretResolver;
  logger: Logger;
  /** MANDATE_ADMIN_TOKEN; without it the admin API answers 404. */
  adminToken?: string;
  /** The audit trail's HMAC keys (`<keys folder>/audit/`). */
  auditKeys: AuditKeys;
  /** Benchmarks only: audit events are logged but not stored (main.ts refuses it in production). */
  benchSkipAuditStore?: boolean;
}

export interface MandateApp {
  app: Koa;
  provider: Provider;
  /** Registry changes and the lifecycle sweep (the admin API's operations). */
  governance: Governance;
  shadow: ShadowAgents;
  /** Human approvals: requests, decisions, redemption; `sweepExpired` for the periodic sweep. */
  approvals: Approvals;
  /** The audit trail: record, verify, query, checkpoints and retention. */
  audit: AuditTrail;
  passkeys: Passkeys;
  enrollments: Enrollments;
  webauthn: WebAuthn;
}

/** The passkey relying party: the policy's `webauthn`, or else the issuer's own host and origin. */
export function relyingParty(policy: Policy, issuer: string): RelyingParty {
  if (policy.webauthn) return { rpId: policy.webauthn.rp_id, rpName: policy.webauthn.rp_name, origins: policy.webauthn.origins.map((o) => new URL(o).origin) };
  const url = new URL(issuer);
  return { rpId: url.hostname, rpName: 'Mandate', origins: [url.origin] };
}

const INTROSPECTION_PATH = '/token/introspection';
const REVOCATION_PATH = '/token/revocation';

/**
 * oidc-provider derives endpoint URLs from the request's host; behind a proxy or a port mapping
 * that is not the issuer. Metadata must name the issuer's own endpoints (RFC 8414 section 3.3).
 */
function anchorToIssuer(metadata: Record<string, unknown>, requestOrigin: string, issuer: string): Record<string, unknown> {
  const anchored: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) {
    anchored[key] = typeof value === 'string' && value.startsWith(`${requestOrigin}/`) ? `${issuer}${value.slice(requestOrigin.length)}` : value;
  }
  return anchored;
}

/** Builds the koa app with oidc-provider mounted. Never listens: `main.ts` (or a test) does. */
export async function createApp(deps: AppDeps): Promise<MandateApp> {
  const { policy, store, keys, logger } = deps;
  const clockToleranceSeconds = policy.limits.clock_skew_seconds;
  const registry = new StoreRegistry(store, policy);
  const records = new TokenRecords(store);
  const audit = new AuditTrail({
    store, keys: deps.auditKeys, logger, retentionDays: policy.audit.retention_days, checkpointSeconds: policy.audit.checkpoint_interval_seconds,
    ...(policy.audit.max_events_per_writer !== undefined ? { maxEventsPerWriter: policy.audit.max_events_per_writer } : {}),
    ...(deps.benchSkipAuditStore ? { skipStore: true } : {}),
  });
  const governance = new Governance({ issuer: deps.issuer, registry, store, records, audit, policy, logger });
  await governance.loadPolicy();
  const minter = createMinter({ issuer: deps.issuer, keys, records, audit });
  const references = createJwtReferences({ issuer: deps.issuer, jwks: () => keys.publicJwks(), clockToleranceSeconds });
  const metrics = createMetrics();
  const shadow = new ShadowAgents({ store, audit, logger, onSighting: (reason) => metrics.shadowSightingsTotal.inc({ reason }) });
  const now = (): number => Math.floor(Date.now() / 1000);
  /** Why a client may not authenticate now, or undefined when it may (SPEC rule 8). */
  const refusal = async (clientId: string, entry?: ClientEntry): Promise<string | undefined> => {
    const found = entry ?? await registry.client(clientId);
    if (!found) return 'unknown_agent';
    if (found.kind !== 'agent') return undefined;
    const state = await usableAgent(registry, policy, clientId, now(), found.agent);
    return state.ok ? undefined : state.error.reason ?? 'unusable';
  };
  const rememberDpopJti = (jkt: string, jti: string, ttlSeconds: number): Promise<boolean> => store.set(dpopProofKey(jkt, jti), '1', { ttlSeconds, onlyIfAbsent: true });
  const passkeys = new Passkeys(store);
  const webauthn = new WebAuthn(store, passkeys, relyingParty(policy, deps.issuer));
  const enrollments = new Enrollments(store, deps.issuer);
  const webhook = policy.notifications.approval_webhook;
  const approvals = new Approvals({
    issuer: deps.issuer, policy, store, registry, governance, passkeys, webauthn, minter, records, audit, logger, rememberDpopJti,
    ...(webhook ? { notify: webhookNotifier({ url: webhook, logger }) } : {}),
  });
  const exchange: ExchangeDeps = {
    issuer: deps.issuer,
    policy,
    registry,
    records,
    store,
    minter,
    audit,
    shadow,
    approvals,
    verifier: createTokenVerifier({
      mandateIssuer: deps.issuer,
      mandateJwks: () => keys.publicJwks(),
      trustedIssuers: policy.trusted_issuers,
      clockSkewSeconds: clockToleranceSeconds,
      maxTokenBytes: policy.limits.max_subject_token_bytes,
    }),
    rememberDpopJti,
    now,
  };
  const provider = await createProvider({
    issuer: deps.issuer, store, keys, registry, minter, records, references, secretDigests: secretDigests(deps.secrets), clockToleranceSeconds,
    exchange, exchangesTotal: metrics.exchangesTotal, approvals, audit,
    backchannel: { issuer: deps.issuer, policy, registry, approvals, now },
    usableClient: async (clientId) => {
      const entry = await registry.client(clientId);
      return entry && (await refusal(clientId, entry)) === undefined ? entry : undefined;
    },
    authorizationDetailsTypes: [...new Set(['agent_task', ...policy.resources.flatMap((r) => r.authorization_details_types)])],
  });
  provider.on('server_error', (ctx, err) => logger.error({ err, request_id: ctx.state?.requestId }, 'oidc-provider server error'));

  const app = new Koa();
  app.silent = true;

  app.use(requestContext(logger));
  app.use(metrics.middleware);
  app.use(errorHandler());
  app.use(securityHeaders({ https: deps.issuer.startsWith('https:') }));
  app.use(bodyLimit());
  app.use(health(store));
  app.use(async function ownRoutes(ctx, next) {
    if (ctx.method === 'GET' && ctx.path === '/metrics') {
      ctx.type = metrics.registry.contentType;
      ctx.body = await metrics.registry.metrics();
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/jwks') {
      // Served from the key folder (picks up rotations); oidc-provider's keystore is fixed at start.
      ctx.set('Cache-Control', 'public, max-age=60');
      ctx.type = 'application/jwk-set+json';
      ctx.body = keys.publicJwks();
      return;
    }
    if (ctx.path === '/.well-known/oauth-authorization-server') {
      // RFC 8414 metadata: same document as OpenID discovery.
      ctx.path = '/.well-known/openid-configuration';
    }
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && ctx.status === 200) {
      ctx.body = {
        ...anchorToIssuer(ctx.body as Record<string, unknown>, `${ctx.protocol}://${ctx.host}`, deps.issuer),
        grant_types_supported: publishedGrantTypes,
        backchannel_authentication_endpoint: `${deps.issuer}${BACKCHANNEL_PATH}`,
        backchannel_token_delivery_modes_supported: ['poll'],
        backchannel_user_code_parameter_supported: false,
      };
    }
  });
  app.use(pages({ approvals, enrollments, webauthn, registry }));
  const routes = adminRoutes({
    governance, shadow, approvals, passkeys, enrollments, enrollmentTtlSeconds: policy.limits.enrollment_ttl_seconds,
    audit, trace: (jti) => traceToken(jti, { issuer: deps.issuer, audit, registry, records, approvals }),
  });
  const openapi = openApiDocument(routes, deps.issuer, '1.0.0');
  app.use(adminRouter(routes, deps.adminToken, { '/admin/openapi.json': () => openapi }));
  app.use(watchForShadowAgents({ shadow, classify: (clientId) => refusal(clientId) }));
  app.use(jwtTokenParams([INTROSPECTION_PATH, REVOCATION_PATH], references));
  app.use(backchannelEndpoint());
  app.use((_ctx, next) => withRequestReads(next));
  app.use(compose(provider.middleware));

  return { app, provider, governance, shadow, approvals, audit, passkeys, enrollments, webauthn };
}

const BACKCHANNEL_PATH = '/backchannel';

/**
 * CIBA's backchannel authentication endpoint needs the token endpoint's client authentication
 * (every method, DPoP aside), which oidc-provider offers only on its own routes; its own CIBA
 * feature requires OpenID Connect (`openid` scope, ID tokens), which agent tokens are not. So the
 * request is handed to the token endpoint as an internal grant, marked so that only this route
 * can use it. Its answer is the backchannel one: `auth_req_id`, `expires_in`, `interval`.
 */
function backchannelEndpoint(): Koa.Middleware {
  return async function backchannel(ctx, next) {
    if (ctx.path !== BACKCHANNEL_PATH) return next();
    if (ctx.method !== 'POST') throw new MandateError(405, 'invalid_request', 'the backchannel authentication endpoint accepts POST only');
    if (!ctx.is('application/x-www-form-urlencoded')) throw invalidRequest('send the request as application/x-www-form-urlencoded');
    const params = new URLSearchParams(typeof ctx.req.body === 'string' ? ctx.req.body : '');
    if (params.has('grant_type')) throw invalidRequest('grant_type is not a backchannel authentication parameter');
    params.append('grant_type', BACKCHANNEL_GRANT);
    const body = params.toString();
    ctx.req.body = body;
    (ctx.request as { body?: unknown }).body = body;
    ctx.state.backchannel = true;
    ctx.path = '/token';
    try {
      await next();
    } finally {
      // The access log and the metrics name the endpoint the client called.
      ctx.path = BACKCHANNEL_PATH;
    }
  };
}

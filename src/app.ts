import Koa from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';

import { createAuditLog } from './audit/audit.js';
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
import { createJwtReferences } from './oidc/jwt-references.js';
import { createProvider } from './oidc/provider.js';
import { usableAgent } from './registry/usable-agent.js';
import { policyRegistry } from './registry/registry.js';
import type { SecretResolver } from './registry/secrets.js';
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
}

export interface MandateApp {
  app: Koa;
  provider: Provider;
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
  const registry = policyRegistry(policy);
  const records = new TokenRecords(store);
  const minter = createMinter({ issuer: deps.issuer, keys, records });
  const references = createJwtReferences({ issuer: deps.issuer, jwks: () => keys.publicJwks(), clockToleranceSeconds });
  const metrics = createMetrics();
  const exchange: ExchangeDeps = {
    issuer: deps.issuer,
    policy,
    registry,
    records,
    store,
    minter,
    audit: createAuditLog(logger),
    verifier: createTokenVerifier({
      mandateIssuer: deps.issuer,
      mandateJwks: () => keys.publicJwks(),
      trustedIssuers: policy.trusted_issuers,
      clockSkewSeconds: clockToleranceSeconds,
      maxTokenBytes: policy.limits.max_subject_token_bytes,
    }),
    rememberDpopJti: (jkt, jti, ttlSeconds) => store.set(dpopProofKey(jkt, jti), '1', { ttlSeconds, onlyIfAbsent: true }),
    now: () => Math.floor(Date.now() / 1000),
  };
  const provider = await createProvider({
    issuer: deps.issuer, store, keys, registry, minter, records, references, secrets: deps.secrets, clockToleranceSeconds,
    exchange, exchangesTotal: metrics.exchangesTotal,
    clientUsable: async (clientId) => {
      const entry = await registry.client(clientId);
      if (entry?.kind !== 'agent') return entry !== undefined;
      return (await usableAgent(registry, clientId, Math.floor(Date.now() / 1000))).ok;
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
      ctx.body = anchorToIssuer(ctx.body as Record<string, unknown>, `${ctx.protocol}://${ctx.host}`, deps.issuer);
    }
  });
  app.use(jwtTokenParams([INTROSPECTION_PATH, REVOCATION_PATH], references));
  app.use(compose(provider.middleware));

  return { app, provider };
}

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import Koa from 'koa';

import {
  createAgentTokenVerifier,
  protectedResourceMetadataPath,
  serveProtectedResourceMetadata,
  type AgentToken,
  type IntrospectionOptions,
  type KoaMiddleware,
} from '../resource-server/index.js';

/**
 * An example resource server, the "Travel API", built on the resource-server kit: read it to see
 * how an API accepts Mandate's agent tokens. Not part of Mandate itself.
 *
 *   npm run build && node dist/src/dev/example-api.js
 *   PORT (4000), MANDATE_ISSUER (http://localhost:3000), TRAVEL_API_SECRET (travel-api-dev-secret)
 */
export interface ExampleApiOptions {
  /** Mandate's issuer URL: the kit finds its keys and introspection endpoint from there. */
  issuer: string;
  /** This API's resource identifier, the `aud` its tokens must carry (default https://api.travel.example). */
  audience?: string;
  /** This API's client at Mandate (`clients` entry with `resource_server`), to ask whether a token was revoked. */
  introspection?: IntrospectionOptions;
  fetch?: typeof fetch;
}

const TRIPS = [
  { id: 'trip-1', from: 'Berlin', to: 'Lisbon', departs: '2026-05-04' },
  { id: 'trip-2', from: 'Lisbon', to: 'Porto', departs: '2026-05-09' },
];

/** A route: who may call it (the kit's middleware), then what it answers for a verified token. */
interface Route {
  guard: KoaMiddleware;
  handle(ctx: Koa.Context, token: AgentToken): void;
}

export function createExampleApi(options: ExampleApiOptions): Koa {
  const audience = options.audience ?? 'https://api.travel.example';
  const verifier = createAgentTokenVerifier({
    issuer: options.issuer,
    audience,
    // Challenges point clients at the metadata below (RFC 9728), found at the resource identifier.
    resourceMetadata: new URL(protectedResourceMetadataPath(audience), audience).href,
    ...(options.introspection ? { introspection: options.introspection } : {}),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  const routes = new Map<string, Route>(Object.entries({
    // Reading needs only the scope. The token is checked locally (signature, aud, exp, DPoP):
    // no call to Mandate, so a revoked token is accepted here until it expires (minutes at most).
    'GET /trips': {
      guard: verifier.requireAgentToken({ scopes: ['trips:read'] }),
      handle(ctx, token) {
        ctx.body = { trips: TRIPS, subject: token.subject, agent: token.agent, actorChain: token.actorChain };
      },
    },
    // Booking spends money: it needs a token a human approved with a passkey (acr "phr"; without
    // one the kit answers 401 insufficient_user_authentication), and, when the API can introspect,
    // a token Mandate still calls active, so a revocation stops bookings within seconds.
    'POST /bookings': {
      guard: verifier.requireAgentToken({ scopes: ['trips:book'], acr: 'phr', introspect: Boolean(options.introspection) }),
      handle(ctx, token) {
        ctx.status = 201;
        ctx.body = { id: `bkg_${randomUUID()}`, status: 'confirmed', approval_id: token.approval?.id, task: token.task, subject: token.subject, agent: token.agent };
      },
    },
  }));

  const app = new Koa();
  app.use(serveProtectedResourceMetadata({
    resource: audience,
    authorization_servers: [options.issuer],
    scopes_supported: ['trips:read', 'trips:book'],
    resource_name: 'Travel API (example)',
  }));
  // Plain dispatch on method and path; a real API would use its router of choice the same way.
  app.use(async (ctx) => {
    const route = routes.get(`${ctx.method} ${ctx.path}`);
    if (!route) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: `no route ${ctx.method} ${ctx.path}` };
      return;
    }
    // The guard either answers the refusal itself or puts the verified token in ctx.state.
    await route.guard(ctx, async () => route.handle(ctx, ctx.state.agentToken as AgentToken));
  });
  return app;
}

/** Runs the API on 127.0.0.1 when this file is the process's entry point (not when imported). */
async function main(): Promise<void> {
  const port = Number(process.env.PORT || 4000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  const issuer = process.env.MANDATE_ISSUER || 'http://localhost:3000';
  // The demo policy's travel-api client; its secret falls back to the development default there too.
  const introspection = { clientId: 'travel-api', clientSecret: process.env.TRAVEL_API_SECRET || 'travel-api-dev-secret' };
  const server = createServer(createExampleApi({ issuer, introspection }).callback());
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  process.stdout.write(`example-api: listening on http://127.0.0.1:${(server.address() as AddressInfo).port} (issuer ${issuer})\n`);
  const stop = (): void => { server.close(); server.closeIdleConnections(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`example-api: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}

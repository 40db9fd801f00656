import type { Middleware } from 'koa';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one app instance (own registry: several apps may share a process in tests). */
export interface Metrics {
  registry: Registry;
  middleware: Middleware;
  /** Token exchanges by outcome: issued, refused, error. */
  exchangesTotal: Counter<'outcome'>;
  /** Requests by unknown, suspended or retired client ids (and unregistered agents in `act`), by reason. */
  shadowSightingsTotal: Counter<'reason'>;
}

/** Route labels from a fixed list so that arbitrary paths cannot explode label cardinality. */
const ROUTES: [RegExp, string][] = [
  [/^\/token$/, 'token'],
  [/^\/token\/introspection$/, 'introspection'],
  [/^\/token\/revocation$/, 'revocation'],
  [/^\/jwks$/, 'jwks'],
  [/^\/\.well-known\//, 'discovery'],
  [/^\/healthz$/, 'healthz'],
  [/^\/readyz$/, 'readyz'],
  [/^\/metrics$/, 'metrics'],
  [/^\/admin(\/|$)/, 'admin'],
  [/^\/backchannel$/, 'backchannel'],
  [/^\/approvals\//, 'approvals'],
  [/^\/enroll\//, 'enroll'],
  [/^\/assets\//, 'assets'],
];

export function routeLabel(path: string): string {
  return ROUTES.find(([pattern]) => pattern.test(path))?.[1] ?? 'other';
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'mandate_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'mandate_http_request_duration_seconds',
    help: 'HTTP request latency by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  const exchangesTotal = new Counter({
    name: 'mandate_token_exchanges_total',
    help: 'RFC 8693 token exchanges by outcome (issued, refused, error)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });

  const shadowSightingsTotal = new Counter({
    name: 'mandate_shadow_agent_sightings_total',
    help: 'Uses of unknown, suspended or retired agent ids, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  const middleware: Middleware = async function metricsMiddleware(ctx, next) {
    const stop = duration.startTimer({ route: routeLabel(ctx.path), method: ctx.method });
    try {
      await next();
    } finally {
      stop();
      requests.inc({ route: routeLabel(ctx.path), method: ctx.method, status: String(ctx.status) });
    }
  };
  return { registry, middleware, exchangesTotal, shadowSightingsTotal };
}

import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';

import type { Logger } from '../log.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** An enrollment link's path carries its secret token: the log shows the route, never the token. */
export const loggedPath = (path: string): string => path.replace(/^\/enroll\/[^/]+/, '/enroll/[redacted]');

declare module 'koa' {
  interface DefaultState {
    requestId: string;
    log: Logger;
  }
}

/**
 * Gives each request an id (a caller's `x-request-id` when it is well-formed, else a new UUID),
 * returns it in the response, and writes one access-log line per request: method, path (never
 * the query string, nor an enrollment link's token), status, duration.
 */
export function requestContext(logger: Logger): Middleware {
  return async function requestContextMiddleware(ctx, next) {
    const given = ctx.get('x-request-id');
    const requestId = SAFE_ID.test(given) ? given : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ request_id: requestId });
    ctx.set('x-request-id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.state.log.info({ method: ctx.method, path: loggedPath(ctx.path), status: ctx.status, duration_ms: Math.round(ms * 100) / 100 }, 'request');
    }
  };
}

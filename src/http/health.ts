import type { Middleware } from 'koa';

import type { Store } from '../store/store.js';

const READY_TIMEOUT_MS = 1000;

/** `/healthz`: the process answers. `/readyz`: the store answers within a second, else 503. */
export function health(store: Store): Middleware {
  return async function healthMiddleware(ctx, next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return undefined;
    }
    if (ctx.path === '/readyz') {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), READY_TIMEOUT_MS);
      });
      try {
        await Promise.race([store.ping(), timeout]);
        ctx.body = { status: 'ready', store: store.kind };
      } catch {
        ctx.status = 503;
        ctx.set('Retry-After', '1');
        ctx.body = { status: 'unavailable', store: store.kind };
      } finally {
        clearTimeout(timer);
      }
      return undefined;
    }
    return next();
  };
}

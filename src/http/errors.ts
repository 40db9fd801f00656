import type { Middleware } from 'koa';

import { MandateError, RETRY_AFTER_SECONDS } from '../errors.js';

/**
 * The one error handler of our own routes. A MandateError renders as `{error,
 * error_description}` with its status and headers; anything else is logged and answered with a
 * generic 500 that reveals nothing. Responses that oidc-provider rendered as 503
 * temporarily_unavailable get their Retry-After here.
 */
export function errorHandler(): Middleware {
  return async function errorHandlerMiddleware(ctx, next) {
    try {
      await next();
      if (ctx.status === 503 && (ctx.body as { error?: string } | undefined)?.error === 'temporarily_unavailable') {
        ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
      }
    } catch (err) {
      if (err instanceof MandateError) {
        ctx.status = err.status;
        ctx.set(err.headers);
        ctx.body = err.toJSON();
        return;
      }
      ctx.state.log?.error({ err }, 'unhandled error');
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'internal error; see the server log with this request id' };
    }
  };
}

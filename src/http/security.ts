import type { Middleware } from 'koa';

/**
 * Headers for an API that serves tokens: nothing is cached unless a route says otherwise
 * (`Cache-Control: no-store` covers every token-bearing response), nothing is framed or
 * sniffed, and JSON cannot be turned into an active document.
 */
export function securityHeaders(options: { https: boolean }): Middleware {
  return async function securityHeadersMiddleware(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    if (options.https) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}

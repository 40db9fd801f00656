import type { Middleware } from 'koa';

import { looksLikeJwt, type JwtReferences } from '../oidc/jwt-references.js';

/** A value that resolves to nothing: unverifiable JWTs are inactive (introspection) / no-ops (revocation). */
const UNRESOLVABLE = 'mjr.invalid';

/**
 * For the introspection and revocation endpoints: replaces a JWT `token` parameter by a
 * reference to its record (see oidc/jwt-references.ts) before oidc-provider parses the body.
 */
export function jwtTokenParams(paths: readonly string[], references: JwtReferences): Middleware {
  return async function jwtTokenParamsMiddleware(ctx, next) {
    if (ctx.method !== 'POST' || !paths.includes(ctx.path) || typeof ctx.req.body !== 'string' || !ctx.is('application/x-www-form-urlencoded')) {
      return next();
    }
    const params = new URLSearchParams(ctx.req.body);
    const tokens = params.getAll('token');
    if (tokens.length === 1 && looksLikeJwt(tokens[0]!)) {
      params.set('token', (await references.referenceFor(tokens[0]!)) ?? UNRESOLVABLE);
      ctx.req.body = params.toString();
    }
    return next();
  };
}

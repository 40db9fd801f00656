import type { Middleware } from 'koa';

import type { TokenRecords } from '../tokens/records.js';

/**
 * oidc-provider fills `authorization_details` in introspection responses only through its own
 * RAR feature, which Mandate does not use (it validates tasks itself). This adds the task of an
 * active Mandate token from its record after oidc-provider has authorized the caller.
 */
export function introspectionDetails(path: string, records: TokenRecords): Middleware {
  return async function introspectionDetailsMiddleware(ctx, next) {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== path || ctx.status !== 200) return;
    const body = ctx.body as { active?: boolean; jti?: unknown } | undefined;
    if (body?.active !== true || typeof body.jti !== 'string') return;
    const record = await records.get(body.jti);
    if (record?.authorization_details) ctx.body = { ...body, authorization_details: record.authorization_details };
  };
}

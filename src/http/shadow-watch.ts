import type { Context, Middleware } from 'koa';
import { decodeJwt } from 'jose';

import type { ShadowAgents } from '../registry/shadow.js';

/**
 * Watches oidc-provider's answers for `invalid_client`. The answer is already decided (and the
 * same whether or not the id exists); afterwards, the claimed client id is looked up and, when
 * it is unknown or belongs to an agent that may not be used, recorded as a shadow-agent sighting.
 * Nothing is looked up on successful requests.
 */
export function watchForShadowAgents(options: {
  shadow: ShadowAgents;
  /** Why this id may not authenticate (`unknown_agent`, `agent_suspended`, …), or undefined when it may. */
  classify: (clientId: string) => Promise<string | undefined>;
}): Middleware {
  return async function shadowWatch(ctx, next) {
    await next();
    if (ctx.status !== 401 || (ctx.body as { error?: unknown } | undefined)?.error !== 'invalid_client') return;
    const claimed = claimedClientId(ctx);
    if (claimed === undefined) return;
    const reason = await options.classify(claimed).catch(() => undefined);
    if (reason === undefined) return;
    await options.shadow.record({ clientId: claimed, reason, endpoint: ctx.path.slice(0, 64), address: ctx.ip, requestId: ctx.state.requestId });
  };
}

/** The client id a request claims: HTTP Basic user, `client_id`, or a client assertion's `sub`. */
export function claimedClientId(ctx: Context): string | undefined {
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(ctx.get('authorization'))?.[1];
  if (basic) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const user = decoded.slice(0, Math.max(0, decoded.indexOf(':')));
    try {
      if (user) return decodeURIComponent(user.replace(/\+/g, ' '));
    } catch {
      return user;
    }
  }
  const params = (ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params;
  if (typeof params?.client_id === 'string' && params.client_id) return params.client_id;
  if (typeof params?.client_assertion === 'string') {
    try {
      const { sub } = decodeJwt(params.client_assertion);
      if (typeof sub === 'string' && sub) return sub;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

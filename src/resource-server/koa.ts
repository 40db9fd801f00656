import type { AgentToken } from './agent-token.js';
import type { Authorization, HttpRequest } from './authorize.js';

/**
 * The part of koa's context the middleware uses, written out so the kit needs no koa types:
 * a koa `Context` fits it, and so does anything shaped like one.
 */
export interface KoaLikeContext {
  method: string;
  protocol: string;
  host: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  set(field: string, value: string): void;
  state: { agentToken?: AgentToken } & Record<string, unknown>;
}

export type KoaMiddleware = (ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<void>;

/**
 * `requireAgentToken({ scopes, acr })`: answers the refusal (status, challenge, JSON body) or
 * sets `ctx.state.agentToken` and calls the next middleware. The DPoP `htu` is the URL koa sees
 * (`ctx.protocol://ctx.host + ctx.path`): behind a proxy, set `app.proxy = true`.
 */
export function koaMiddleware(authorize: (request: HttpRequest) => Promise<Authorization>): KoaMiddleware {
  return async function requireAgentToken(ctx, next) {
    const result = await authorize({ method: ctx.method, url: `${ctx.protocol}://${ctx.host}${ctx.path}`, headers: ctx.headers });
    if (!result.ok) {
      ctx.status = result.status;
      for (const [name, value] of Object.entries(result.headers)) ctx.set(name, value);
      ctx.body = result.body;
      return;
    }
    ctx.state.agentToken = result.token;
    await next();
  };
}

import type { TokenEndpointGrantContext } from 'oidc-provider';

import { ApprovalPending } from '../approvals/approvals.js';
import { MandateError } from '../errors.js';
import { exchangeToken, TOKEN_EXCHANGE } from '../exchange/exchange.js';
import type { GrantDeps } from './index.js';

/** RFC 8693 token exchange: the grant module; the story itself is src/exchange/exchange.ts. */
export const grantType = TOKEN_EXCHANGE;
export const parameters = [
  'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'resource', 'audience', 'scope',
  'requested_token_type', 'authorization_details',
] as const;
/** `resource` and `audience` may repeat in the request; rule 5 then answers invalid_target. */
export const duplicates = ['resource', 'audience'] as const;

export function handler(deps: GrantDeps) {
  return async function tokenExchange(ctx: TokenEndpointGrantContext): Promise<void> {
    const proofs = ctx.req.headersDistinct.dpop ?? [];
    try {
      ctx.body = await exchangeToken({
        clientId: ctx.oidc.client.clientId,
        params: ctx.oidc.params as Record<string, unknown>,
        dpopProofs: proofs,
        ...(ctx.state.requestId ? { requestId: ctx.state.requestId as string } : {}),
        address: ctx.ip,
      }, deps.exchange);
      deps.exchangesTotal.inc({ outcome: 'issued' });
    } catch (err) {
      if (err instanceof ApprovalPending) {
        // SPEC rule 9: 400 authorization_pending with auth_req_id, expires_in, interval, approval_uri
        // (oidc-provider's error renderer would drop those members, so the answer is set here).
        deps.exchangesTotal.inc({ outcome: 'pending' });
        ctx.status = 400;
        ctx.body = err.toJSON();
        return;
      }
      deps.exchangesTotal.inc({ outcome: err instanceof MandateError && err.status < 500 ? 'refused' : 'error' });
      throw err;
    }
  };
}

import type { TokenEndpointGrantContext } from 'oidc-provider';

import { CIBA_GRANT } from '../approvals/approvals.js';
import { backchannelAuthentication } from '../approvals/backchannel.js';
import { MandateError } from '../errors.js';
import type { GrantDeps } from './index.js';

/**
 * OpenID CIBA, poll mode: the agent collects an approved request's token with
 * `grant_type=urn:openid:params:grant-type:ciba&auth_req_id=…` (SPEC section 6). The decisions
 * live in src/approvals/approvals.ts.
 */
export const grantType = CIBA_GRANT;
export const parameters = ['auth_req_id'] as const;

export function handler(deps: GrantDeps) {
  return async function ciba(ctx: TokenEndpointGrantContext): Promise<void> {
    ctx.body = await deps.approvals.redeem({
      clientId: ctx.oidc.client.clientId,
      authReqId: ctx.oidc.params.auth_req_id,
      dpopProofs: ctx.req.headersDistinct.dpop ?? [],
      ...(ctx.state.requestId ? { requestId: ctx.state.requestId as string } : {}),
    });
  };
}

/**
 * The backchannel authentication endpoint (`POST /backchannel`) reuses the token endpoint's
 * client authentication: `backchannelEndpoint()` (src/approvals/backchannel-route.ts) hands the
 * request to oidc-provider as this internal grant, which is refused when called directly and is
 * not listed in discovery.
 */
export const BACKCHANNEL_GRANT = 'urn:mandate:internal:backchannel-authentication';

export const backchannel = {
  grantType: BACKCHANNEL_GRANT,
  parameters: [
    'login_hint', 'login_hint_token', 'id_token_hint', 'user_code', 'request', 'client_notification_token', 'acr_values',
    'scope', 'resource', 'audience', 'authorization_details', 'binding_message', 'requested_expiry',
  ] as const,
  duplicates: ['resource', 'audience'] as const,
  handler(deps: GrantDeps) {
    return async function backchannelAuthenticationRequest(ctx: TokenEndpointGrantContext): Promise<void> {
      if (ctx.state.backchannel !== true) {
        throw new MandateError(400, 'unsupported_grant_type', `grant_type ${BACKCHANNEL_GRANT} is internal: use the backchannel_authentication_endpoint`);
      }
      ctx.body = await backchannelAuthentication({
        clientId: ctx.oidc.client.clientId,
        params: ctx.oidc.params as Record<string, unknown>,
        ...(ctx.state.requestId ? { requestId: ctx.state.requestId as string } : {}),
      }, deps.backchannel);
    };
  },
};

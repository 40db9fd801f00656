import type { TokenEndpointGrantContext } from 'oidc-provider';

import type { AuditInput } from '../audit/trail.js';
import { MandateError, unauthorizedClient } from '../errors.js';
import { decideClientCredentials } from '../policy/client-credentials.js';
import type { GrantDeps } from './index.js';

/**
 * RFC 6749 section 4.4, issuing RFC 9068 JWT access tokens for registered resources (RFC 8707).
 * Replaces oidc-provider's built-in handler so that every token gets a stored record first.
 */
export const grantType = 'client_credentials';
export const parameters = ['scope', 'resource'] as const;
/** `resource` may repeat in the request; we then answer invalid_target ourselves. */
export const duplicates = ['resource'] as const;

export function handler(deps: GrantDeps) {
  return async function clientCredentials(ctx: TokenEndpointGrantContext): Promise<void> {
    const clientId = ctx.oidc.client.clientId;
    const { resource, scope } = ctx.oidc.params;
    const requestId = ctx.state.requestId as string | undefined;
    const audit: AuditInput = {
      type: 'token.refused', outcome: 'failure', client_id: clientId, ...(requestId ? { request_id: requestId } : {}),
      ...(typeof resource === 'string' ? { audience: resource } : {}), ...(typeof scope === 'string' && scope ? { scope } : {}),
    };
    const refuse = async (error: MandateError): Promise<never> => {
      await deps.audit.recordBestEffort({ ...audit, reason: error.error });
      throw error;
    };
    const client = await deps.registry.client(clientId);
    if (!client?.grantTypes.includes(grantType)) {
      return refuse(unauthorizedClient(`client ${clientId} may not use the client_credentials grant`));
    }
    const decision = decideClientCredentials({
      client,
      requestedResources: resource === undefined ? [] : [resource].flat(),
      requestedScopes: typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [],
      resourceByUri: (uri) => deps.registry.resource(uri),
    });
    if (!decision.ok) return refuse(decision.error);

    const scopeValue = decision.scopes.join(' ');
    const minted = await deps.minter.mint({
      clientId: client.id,
      sub: client.id,
      aud: decision.aud,
      scope: scopeValue,
      ttlSeconds: decision.ttlSeconds,
      grantType,
    }, (record) => [{
      ...audit, type: 'token.issued', outcome: 'success', subject: { iss: deps.issuer, sub: client.id }, audience: decision.aud, scope: scopeValue, jti: record.jti,
    }]);
    ctx.body = {
      access_token: minted.accessToken,
      token_type: 'Bearer',
      expires_in: minted.expiresIn,
      scope: scopeValue,
    };
  };
}

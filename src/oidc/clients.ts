import type { ClientMetadata } from 'oidc-provider';

import type { ClientEntry } from '../registry/registry.js';
import type { SecretResolver } from '../registry/secrets.js';

/**
 * A registry entry as oidc-provider client metadata, never holding a secret itself. Every registered grant type is listed so
 * that oidc-provider lets the request reach our handlers, which decide per client and answer
 * `unauthorized_client` (oidc-provider would say `invalid_request`).
 */
export function toClientMetadata(entry: ClientEntry, secretDigests: SecretResolver, grantTypes: readonly string[]): ClientMetadata {
  const base: ClientMetadata = {
    client_id: entry.id,
    grant_types: [...grantTypes],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: entry.auth.method,
    // Required with the CIBA grant type; Mandate's CIBA is poll mode only.
    backchannel_token_delivery_mode: 'poll',
  };
  if (entry.auth.method === 'private_key_jwt') {
    return {
      ...base,
      ...(entry.auth.jwks ? { jwks: entry.auth.jwks as ClientMetadata['jwks'] } : {}),
      ...(entry.auth.jwks_uri ? { jwks_uri: entry.auth.jwks_uri } : {}),
    };
  }
  // oidc-provider holds only a digest: Client#compareClientSecret is replaced (src/oidc/provider.ts).
  if ('secret_digest' in entry.auth) return { ...base, client_secret: entry.auth.secret_digest };
  const digest = secretDigests(entry.id);
  return digest === undefined ? base : { ...base, client_secret: digest };
}

import type { Resource } from '../config/policy-schema.js';
import { invalidScope, invalidTarget, type MandateError } from '../errors.js';
import { MAX_TOKEN_TTL } from './lifetime.js';

/** Lifetime of a client_credentials token when its resource sets no bound. */
export const DEFAULT_CLIENT_TOKEN_TTL = 600;

export interface ClientCredentialsInput {
  client: { id: string; scopes: readonly string[]; audiences: readonly string[] };
  /** `resource` parameter values as sent (RFC 8707). */
  requestedResources: readonly string[];
  /** `scope` parameter, split; empty when absent. */
  requestedScopes: readonly string[];
  resourceByUri: (uri: string) => Resource | undefined;
}

export type Decision = { ok: true; aud: string; scopes: string[]; ttlSeconds: number } | { ok: false; error: MandateError };

/**
 * client_credentials for JWT access tokens: exactly one registered resource the client may use
 * (defaulting only when the client has a single audience), and scopes within both the client's
 * and the resource's. Never widened: an unknown requested scope is an error, not dropped.
 */
export function decideClientCredentials(input: ClientCredentialsInput): Decision {
  const { client, requestedResources, requestedScopes } = input;
  if (requestedResources.length > 1) {
    return { ok: false, error: invalidTarget('only one resource may be requested per token') };
  }
  const uri = requestedResources[0] ?? (client.audiences.length === 1 ? client.audiences[0] : undefined);
  if (uri === undefined) {
    return { ok: false, error: invalidTarget(`resource is required: client ${client.id} may get tokens for ${client.audiences.join(', ') || 'no resource'}`) };
  }
  const resource = input.resourceByUri(uri);
  if (!resource) return { ok: false, error: invalidTarget(`resource ${uri} is not a registered resource`) };
  if (!client.audiences.includes(uri)) {
    return { ok: false, error: invalidTarget(`client ${client.id} may not get tokens for ${uri}`) };
  }

  const allowed = client.scopes.filter((s) => resource.scopes.includes(s));
  const outside = requestedScopes.filter((s) => !allowed.includes(s));
  if (outside.length > 0) {
    return { ok: false, error: invalidScope(`scope ${outside.join(' ')} is not allowed for client ${client.id} at ${uri}`) };
  }
  const scopes = requestedScopes.length > 0 ? [...new Set(requestedScopes)] : allowed;
  if (scopes.length === 0) {
    return { ok: false, error: invalidScope(`client ${client.id} has no scope at ${uri}`) };
  }
  const ttlSeconds = Math.min(resource.max_token_ttl ?? DEFAULT_CLIENT_TOKEN_TTL, MAX_TOKEN_TTL);
  return { ok: true, aud: uri, scopes, ttlSeconds };
}

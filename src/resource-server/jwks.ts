import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';

import type { Fetch } from './discovery.js';

export interface JwksOptions {
  /** After a fetch, an unknown `kid` waits this long before fetching again (jose's cooldownDuration). */
  cooldownMs: number;
  fetch: Fetch;
}

/**
 * One remote key set per `jwks_uri` (and fetch function), shared by every verifier in the process:
 * ten verifiers for ten routes still fetch the keys once. jose's remote set does the rest: keys
 * are cached, and a token with an unknown `kid` (the issuer rotated) triggers one refetch, no more
 * often than the cooldown allows, so forged kids cannot make the kit hammer the issuer.
 */
const shared = new WeakMap<Fetch, Map<string, JWTVerifyGetKey>>();

export function sharedJwks(uri: string, options: JwksOptions): JWTVerifyGetKey {
  let sets = shared.get(options.fetch);
  if (!sets) shared.set(options.fetch, sets = new Map());
  const key = `${options.cooldownMs} ${uri}`;
  let jwks = sets.get(key);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(uri), {
      cooldownDuration: options.cooldownMs,
      [customFetch]: (url: string, init: RequestInit) => options.fetch(url, { ...init, redirect: 'error' }),
    });
    sets.set(key, jwks);
  }
  return jwks;
}

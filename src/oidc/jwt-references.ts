import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';

import { verifyJwt } from '../exchange/fast-verify.js';
import { mandateKeys } from '../exchange/issuer-keys.js';
import { SIGNING_ALGS } from '../keys/keystore.js';

/**
 * oidc-provider refuses to introspect or revoke structured (JWT) tokens because it keeps no
 * record of them. Mandate does keep one, so before oidc-provider sees the request we swap a
 * verified Mandate JWT for an unforgeable reference to its record (`mjr.<jti>.<mac>`); the
 * adapter resolves that reference to the record. oidc-provider still does client
 * authentication, parameter checks and the allowed-policy hooks.
 */
export interface JwtReferences {
  /** A reference for a genuine, unexpired Mandate access token; `undefined` otherwise. */
  referenceFor(token: string): Promise<string | undefined>;
  /** The jti behind a reference minted by this process, or undefined. */
  jtiOf(reference: string): string | undefined;
}

const PREFIX = 'mjr.';

export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(value);
}

export function createJwtReferences(deps: { issuer: string; jwks: () => JSONWebKeySet; clockToleranceSeconds: number }): JwtReferences {
  const secret = randomBytes(32);
  const mac = (jti: string): Buffer => createHmac('sha256', secret).update(jti).digest();
  // The same cached key source and node:crypto verification as token exchange: no key import
  // or WebCrypto call per introspection.
  const keys = mandateKeys(deps.jwks);

  return {
    async referenceFor(token) {
      if (!looksLikeJwt(token)) return undefined;
      try {
        const header = decodeProtectedHeader(token);
        if (header.typ !== 'at+jwt' || header.crit !== undefined) return undefined;
        const payload = await verifyJwt(token, header, keys, {
          issuer: deps.issuer,
          algorithms: SIGNING_ALGS,
          clockTolerance: deps.clockToleranceSeconds,
          now: Date.now(),
          requiredClaims: ['exp', 'jti'],
        });
        if (typeof payload.jti !== 'string' || payload.jti.includes('.')) return undefined;
        return `${PREFIX}${payload.jti}.${mac(payload.jti).toString('base64url')}`;
      } catch {
        return undefined;
      }
    },
    jtiOf(reference) {
      if (!reference.startsWith(PREFIX)) return undefined;
      const [jti, tag] = reference.slice(PREFIX.length).split('.');
      if (!jti || !tag) return undefined;
      const given = Buffer.from(tag, 'base64url');
      const expected = mac(jti);
      return given.length === expected.length && timingSafeEqual(given, expected) ? jti : undefined;
    },
  };
}

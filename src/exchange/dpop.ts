import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';

import { hasPrivateMembers } from '../keys/key-object.js';
import { fail, ok, type Result } from './types.js';

/**
 * RFC 9449 proof check at the token endpoint. oidc-provider's own DPoP validation is not
 * reachable from a custom grant handler (it is an internal helper, handed only to built-in
 * grants, and derives `htu` from the request's Host header), so Mandate checks proofs here:
 * `typ`, an embedded public key and an allowed asymmetric `alg`, the signature, `htm`, `htu` =
 * the issuer's token endpoint, a recent `iat`, and a `jti` never seen before for that key.
 */
export const DPOP_ALGS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] as const;

/** How far a proof's `iat` may be from now, in seconds (RFC 9449 section 11.1). */
export const DPOP_IAT_WINDOW = 60;

export interface DpopCheck {
  /** The DPoP header values as received (several = refused). */
  proofs: readonly string[];
  method: string;
  /** The token endpoint URL as published in discovery. */
  url: string;
  now: number;
  /** Records the jti for the key; resolves false when it was already used. */
  remember(jkt: string, jti: string, ttlSeconds: number): Promise<boolean>;
}

const bad = (description: string): Result<never> => fail('invalid_dpop_proof', `DPoP proof ${description}`);

/** The bound key's thumbprint, undefined when no proof was sent, or invalid_dpop_proof. */
export async function checkDpopProof(check: DpopCheck): Promise<Result<string | undefined>> {
  if (check.proofs.length === 0) return ok(undefined);
  if (check.proofs.length > 1) return bad('must be a single DPoP header');
  const proof = check.proofs[0]!;
  if (proof.length > 4096) return bad('is too large');

  let jwk: JWK;
  try {
    const header = decodeProtectedHeader(proof);
    if (header.typ !== 'dpop+jwt') return bad('typ must be dpop+jwt');
    if (!header.jwk || typeof header.jwk !== 'object') return bad('must carry the public key as jwk');
    if (hasPrivateMembers(header.jwk)) return bad('jwk must not contain private key members');
    jwk = header.jwk;
  } catch {
    return bad('is not a JWS');
  }

  let payload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGS] }));
  } catch (err) {
    const code = (err as { code?: string }).code;
    return bad(code === 'ERR_JOSE_ALG_NOT_ALLOWED' ? 'algorithm is not allowed' : 'signature is invalid');
  }

  if (payload.htm !== check.method) return bad('htm does not match the request method');
  if (typeof payload.htu !== 'string' || htuOf(payload.htu) !== check.url) return bad(`htu must be ${check.url}`);
  if (typeof payload.iat !== 'number' || Math.abs(check.now - payload.iat) > DPOP_IAT_WINDOW) return bad('iat is not recent');
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) return bad('must have a jti');

  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  if (!(await check.remember(jkt, payload.jti, DPOP_IAT_WINDOW * 2))) return bad('was already used (jti replay)');
  return ok(jkt);
}

/**
 * RFC 9449 section 4.3 item 9: a proof's `htu` is compared without query and fragment, after URL
 * normalisation. Shared with the resource-server kit, which checks proofs against its own URLs.
 */
export function htuOf(url: string): string | undefined {
  const parsed = URL.parse(url);
  return parsed ? `${parsed.origin}${parsed.pathname}` : undefined;
}

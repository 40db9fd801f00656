import { constants, type KeyObject, verify } from 'node:crypto';

import { errors, type CryptoKey, type JWSHeaderParameters, type JWTPayload } from 'jose';

import { keyObjectOf } from '../keys/key-object.js';
import type { KeySource } from './issuer-keys.js';

/**
 * JWS verification and JWT claim checks with node:crypto. Subject-token verification is the
 * one extra signature check of a token exchange, and jose's WebCrypto path costs several times
 * a synchronous node:crypto verify (measured: `npm run bench`). Keys still come from jose key
 * sets (remote JWKS caching and cooldown stay jose's); failures are jose's own error classes, so
 * callers map them exactly as they would map jwtVerify's.
 */
export interface FastVerifyOptions {
  issuer: string;
  audience?: readonly string[];
  algorithms: readonly string[];
  clockTolerance: number;
  /** Epoch milliseconds. */
  now: number;
  requiredClaims: readonly string[];
}

const HASH: Record<string, string> = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

/** True when `signature` over `data` verifies for `alg` (the algorithm was pinned by the caller). */
function verifies(alg: string, data: Buffer, signature: Buffer, key: KeyObject): boolean {
  const bits = alg.slice(2);
  if (alg === 'EdDSA' || alg === 'Ed25519') return key.asymmetricKeyType === 'ed25519' && verify(null, data, key, signature);
  if (alg.startsWith('ES')) return key.asymmetricKeyType === 'ec' && verify(HASH[bits]!, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  if (alg.startsWith('RS')) return key.asymmetricKeyType === 'rsa' && verify(HASH[bits]!, data, key, signature);
  if (alg.startsWith('PS')) {
    return (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss')
      && verify(HASH[bits]!, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(bits) / 8 }, signature);
  }
  throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
}

/** jose's claim rules for iss, aud, required claims and times, with its error classes. */
function checkClaims(payload: JWTPayload, options: FastVerifyOptions): void {
  const now = Math.floor(options.now / 1000);
  const claimFailed = (message: string, claim: string, reason: string) => new errors.JWTClaimValidationFailed(message, payload, claim, reason);
  for (const claim of options.requiredClaims) {
    if (!(claim in payload)) throw claimFailed(`missing required "${claim}" claim`, claim, 'missing');
  }
  if (payload.iss !== options.issuer) throw claimFailed('unexpected "iss" claim value', 'iss', 'check_failed');
  if (options.audience) {
    const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
    if (!aud.some((a) => options.audience!.includes(a))) throw claimFailed('unexpected "aud" claim value', 'aud', 'check_failed');
  }
  for (const claim of ['iat', 'nbf', 'exp'] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== 'number') throw claimFailed(`"${claim}" claim must be a number`, claim, 'invalid');
  }
  if (payload.nbf !== undefined && payload.nbf > now + options.clockTolerance) throw claimFailed('"nbf" claim timestamp check failed', 'nbf', 'check_failed');
  if (payload.exp !== undefined && payload.exp <= now - options.clockTolerance) {
    throw new errors.JWTExpired('"exp" claim timestamp check failed', payload, 'exp', 'check_failed');
  }
}

/** Verifies a compact JWS whose header was already read and checked, then its claims. */
export async function verifyJwt(token: string, header: JWSHeaderParameters, keys: KeySource, options: FastVerifyOptions): Promise<JWTPayload> {
  const [protectedPart, payloadPart, signaturePart] = token.split('.') as [string, string, string];
  if (!options.algorithms.includes(header.alg!)) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  const data = Buffer.from(`${protectedPart}.${payloadPart}`);
  const signature = Buffer.from(signaturePart, 'base64url');

  let candidates: CryptoKey[];
  try {
    candidates = [await keys(header, { protected: protectedPart, payload: payloadPart, signature: signaturePart })];
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    candidates = [];
    for await (const key of err) candidates.push(key as CryptoKey);
  }
  if (!candidates.some((key) => verifies(header.alg!, data, signature, keyObjectOf(key)))) throw new errors.JWSSignatureVerificationFailed();

  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'));
  } catch {
    throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new errors.JWTInvalid('JWT Claims Set must be a top-level JSON object');
  checkClaims(payload as JWTPayload, options);
  return payload as JWTPayload;
}

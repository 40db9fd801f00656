import { createHash } from 'node:crypto';

import { decodeProtectedHeader, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';

import { DPOP_ALGS, htuOf } from '../exchange/dpop.js';
import { hasPrivateMembers } from '../keys/key-object.js';
import { AgentTokenError, type AgentTokenErrorCode } from './errors.js';
import type { ExpiringCache } from './expiring-cache.js';

/** Asymmetric algorithms accepted for proofs unless the verifier is given its own list: the ones Mandate's token endpoint accepts. */
export const DEFAULT_DPOP_ALGORITHMS: string[] = [...DPOP_ALGS];

export interface DpopPolicy {
  algorithms: string[];
  /** How old a proof's `iat` may be (seconds). */
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
  /** Proof ids seen within the window (key: thumbprint + jti). */
  seen: ExpiringCache<true>;
  /** Imported proof keys by thumbprint and alg: a client signs every proof with the same key. */
  keys: ExpiringCache<CryptoKey>;
}

/** The parts of the HTTP request a proof is bound to. */
export interface ProofRequest {
  /** Every DPoP header value received (more than one is refused). */
  proofs: readonly string[];
  method: string;
  /** The request URL as the client addressed it (query and fragment are ignored). */
  url: string;
}

const MAX_PROOF_BYTES = 4096;

const refuse = (code: AgentTokenErrorCode, description: string): AgentTokenError => new AgentTokenError(code, description, { dpop: true });

/**
 * RFC 9449 section 4.3 and 7.1: the proof is a `dpop+jwt` signed by the public key it carries,
 * for this method and URL, recent, for this access token (`ath`), by the key the token is bound
 * to (`cnf.jkt`), and never seen before. The replay check comes last, so a proof that fails any
 * other check does not use up its `jti`.
 */
/** `tokenHash`: base64url SHA-256 of the access token (the verifier's cache key is the same value, so `ath` costs no hashing). */
export async function checkProof(request: ProofRequest, tokenHash: string, boundJkt: string, policy: DpopPolicy, now: number): Promise<void> {
  if (request.proofs.length === 0) throw refuse('dpop_proof_missing', 'the token is DPoP-bound: a DPoP proof header is required');
  if (request.proofs.length > 1) throw refuse('dpop_proof_invalid', 'send exactly one DPoP header');
  const proof = request.proofs[0]!;
  if (proof.length > MAX_PROOF_BYTES) throw refuse('dpop_proof_invalid', 'the DPoP proof is too large');

  let header;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw refuse('dpop_proof_invalid', 'the DPoP proof is not a JWS');
  }
  if (header.typ !== 'dpop+jwt') throw refuse('dpop_proof_invalid', 'the DPoP proof typ must be dpop+jwt');
  if (typeof header.alg !== 'string' || !policy.algorithms.includes(header.alg)) throw refuse('dpop_proof_invalid', `the DPoP proof alg must be one of ${policy.algorithms.join(', ')}`);
  const jwk = header.jwk;
  if (typeof jwk !== 'object' || jwk === null) throw refuse('dpop_proof_invalid', 'the DPoP proof must carry its public key as jwk');
  if (hasPrivateMembers(jwk)) throw refuse('dpop_proof_invalid', 'the DPoP proof jwk must be a public key');
  // The bound key is known, so a proof by any other key is refused before any signature work.
  const jkt = thumbprint(jwk);
  if (jkt === undefined) throw refuse('dpop_proof_invalid', 'the DPoP proof jwk is not an EC, RSA or OKP public key');
  if (jkt !== boundJkt) throw refuse('dpop_key_mismatch', 'the DPoP proof is signed by a key other than the one the token is bound to');

  let payload;
  try {
    ({ payload } = await jwtVerify(proof, await proofKey(jwk, jkt, header.alg, policy, now), { typ: 'dpop+jwt', algorithms: policy.algorithms }));
  } catch {
    throw refuse('dpop_proof_invalid', 'the DPoP proof signature is invalid');
  }

  if (payload.htm !== request.method) throw refuse('dpop_htm_mismatch', `the DPoP proof htm must be ${request.method}`);
  const target = htuOf(request.url);
  if (typeof payload.htu !== 'string' || htuOf(payload.htu) !== target) throw refuse('dpop_htu_mismatch', `the DPoP proof htu must be ${target}`);
  const { iat, jti, ath } = payload as { iat?: unknown; jti?: unknown; ath?: unknown };
  const seconds = now / 1000;
  if (typeof iat !== 'number' || iat > seconds + policy.clockToleranceSeconds || iat < seconds - policy.maxAgeSeconds - policy.clockToleranceSeconds) {
    throw refuse('dpop_proof_stale', `the DPoP proof iat must be within ${policy.maxAgeSeconds} s of now`);
  }
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw refuse('dpop_proof_invalid', 'the DPoP proof must have a jti');
  if (ath !== tokenHash) throw refuse('dpop_ath_mismatch', 'the DPoP proof ath must be the hash of this access token');

  const until = (iat + policy.maxAgeSeconds + policy.clockToleranceSeconds) * 1000;
  if (!policy.seen.add(`${jkt} ${jti}`, true, until, now)) throw refuse('dpop_proof_replayed', 'the DPoP proof was already used (jti replay)');
}

/** RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order; undefined for other key types. */
function thumbprint(jwk: JWK): string | undefined {
  const required = ({ EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'], OKP: ['crv', 'kty', 'x'] } as Record<string, string[]>)[jwk.kty as string];
  if (!required) return undefined;
  const members: Record<string, string> = {};
  for (const name of required) {
    const value = (jwk as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value.length === 0) return undefined;
    members[name] = value;
  }
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** The proof's key, imported once per key and alg (same thumbprint = same public key). */
async function proofKey(jwk: JWK, jkt: string, alg: string, policy: DpopPolicy, now: number): Promise<CryptoKey> {
  const id = `${jkt} ${alg}`;
  const cached = policy.keys.get(id, now);
  if (cached) return cached;
  const key = await importJWK(jwk, alg);
  // Only a symmetric (oct) JWK imports as bytes, and thumbprint() already refused those.
  if (key instanceof Uint8Array) throw new TypeError('a DPoP proof key must be asymmetric');
  policy.keys.set(id, key, now + 10 * 60 * 1000, now);
  return key;
}

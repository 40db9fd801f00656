import { createHash } from 'node:crypto';

import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, jwtVerify, type JWK } from 'jose';

import { AgentTokenError, type AgentTokenErrorCode } from './errors.js';
import type { ExpiringCache } from './expiring-cache.js';

/** Asymmetric algorithms accepted for proofs unless the verifier is given its own list. */
export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'RS256', 'PS256'];

export interface DpopPolicy {
  algorithms: string[];
  /** How old a proof's `iat` may be (seconds). */
  maxAgeSeconds: number;
  clockToleranceSeconds: number;
  /** Proof ids seen within the window (key: thumbprint + jti). */
  seen: ExpiringCache<true>;
}

/** The parts of the HTTP request a proof is bound to. */
export interface ProofRequest {
  /** Every DPoP header value received (more than one is refused). */
  proofs: readonly string[];
  method: string;
  /** The request URL as the client addressed it (query and fragment are ignored). */
  url: string;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const MAX_PROOF_BYTES = 4096;

const refuse = (code: AgentTokenErrorCode, description: string): AgentTokenError => new AgentTokenError(code, description, { dpop: true });

/**
 * RFC 9449 section 4.3 and 7.1: the proof is a `dpop+jwt` signed by the public key it carries,
 * for this method and URL, recent, for this access token (`ath`), by the key the token is bound
 * to (`cnf.jkt`), and never seen before. The replay check comes last, so a proof that fails any
 * other check does not use up its `jti`.
 */
export async function checkProof(request: ProofRequest, accessToken: string, boundJkt: string, policy: DpopPolicy, now: number): Promise<void> {
  if (request.proofs.length === 0) throw refuse('dpop_proof_missing', 'the token is DPoP-bound: a DPoP proof header is required');
  if (request.proofs.length > 1) throw refuse('dpop_proof_invalid', 'send exactly one DPoP header');
  const proof = request.proofs[0]!;
  if (proof.length > MAX_PROOF_BYTES) throw refuse('dpop_proof_invalid', 'the DPoP proof is too large');

  let jwk: JWK;
  try {
    const header = decodeProtectedHeader(proof);
    if (header.typ !== 'dpop+jwt') throw refuse('dpop_proof_invalid', 'the DPoP proof typ must be dpop+jwt');
    if (typeof header.jwk !== 'object' || header.jwk === null) throw refuse('dpop_proof_invalid', 'the DPoP proof must carry its public key as jwk');
    if (PRIVATE_MEMBERS.some((m) => m in header.jwk!)) throw refuse('dpop_proof_invalid', 'the DPoP proof jwk must be a public key');
    jwk = header.jwk;
  } catch (err) {
    if (err instanceof AgentTokenError) throw err;
    throw refuse('dpop_proof_invalid', 'the DPoP proof is not a JWS');
  }

  let payload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: policy.algorithms }));
  } catch (err) {
    const notAllowed = (err as { code?: string }).code === 'ERR_JOSE_ALG_NOT_ALLOWED';
    throw refuse('dpop_proof_invalid', notAllowed ? `the DPoP proof alg must be one of ${policy.algorithms.join(', ')}` : 'the DPoP proof signature is invalid');
  }

  if (payload.htm !== request.method) throw refuse('dpop_htm_mismatch', `the DPoP proof htm must be ${request.method}`);
  const target = withoutQuery(request.url);
  if (typeof payload.htu !== 'string' || withoutQuery(payload.htu) !== target) throw refuse('dpop_htu_mismatch', `the DPoP proof htu must be ${target}`);
  const { iat, jti, ath } = payload as { iat?: unknown; jti?: unknown; ath?: unknown };
  const seconds = now / 1000;
  if (typeof iat !== 'number' || iat > seconds + policy.clockToleranceSeconds || iat < seconds - policy.maxAgeSeconds - policy.clockToleranceSeconds) {
    throw refuse('dpop_proof_stale', `the DPoP proof iat must be within ${policy.maxAgeSeconds} s of now`);
  }
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw refuse('dpop_proof_invalid', 'the DPoP proof must have a jti');
  if (ath !== createHash('sha256').update(accessToken).digest('base64url')) throw refuse('dpop_ath_mismatch', 'the DPoP proof ath must be the hash of this access token');

  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  if (jkt !== boundJkt) throw refuse('dpop_key_mismatch', 'the DPoP proof is signed by a key other than the one the token is bound to');

  const until = (iat + policy.maxAgeSeconds + policy.clockToleranceSeconds) * 1000;
  if (!policy.seen.add(`${jkt} ${jti}`, true, until, now)) throw refuse('dpop_proof_replayed', 'the DPoP proof was already used (jti replay)');
}

/** RFC 9449 section 4.3 item 9: compare without query and fragment, after URL normalisation. */
function withoutQuery(url: string): string | undefined {
  const parsed = URL.parse(url);
  if (!parsed) return undefined;
  return `${parsed.origin}${parsed.pathname}`;
}

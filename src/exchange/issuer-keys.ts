import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors } from 'jose';
import type { CryptoKey, FetchImplementation, FlattenedJWSInput, JSONWebKeySet, JWK, JWSHeaderParameters, LocalJWKSet } from 'jose';
import type { Policy } from '../config/policy-schema.js';
import { hasPrivateMembers } from '../keys/key-object.js';

/**
 * Public keys of the issuers whose tokens token exchange accepts (SPEC section 5, rule 1): Mandate
 * itself and each `trusted_issuers` entry, from an inline `jwks`, a `jwks_uri` or a `jwks_file`.
 * Keys are only ever taken from configuration, never from a token's own headers.
 */

export type TrustedIssuer = Policy['trusted_issuers'][number];

/** Resolves the verification key for a token's header (the jose "get key" function shape). */
export type KeySource = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** The keys of an issuer cannot be had right now (fetch failed or timed out, file unreadable, bad set). */
export class IssuerKeysUnavailable extends Error {
  override readonly name = 'IssuerKeysUnavailable';
}

/** A missing kid triggers a re-fetch or re-read at most this often (ms), like jose's remote sets. */
export const KEY_REFRESH_COOLDOWN_MS = 30_000;
/** Keys older than this are fetched or read again (ms), so that a key removed upstream stops working. */
export const KEY_CACHE_MAX_AGE_MS = 600_000;
const FETCH_TIMEOUT_MS = 2_000;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Keeps the public keys of a JWKS and drops everything else: a set that carries private or
 * symmetric key material is a misconfiguration, and such a key must never verify anything
 * (a symmetric "k" would let whoever knows it mint tokens).
 */
export function publicOnly(jwks: unknown): JSONWebKeySet {
  const keys = isObject(jwks) && Array.isArray(jwks.keys) ? jwks.keys : [];
  return {
    keys: keys.filter((jwk): jwk is JWK => isObject(jwk) && !hasPrivateMembers(jwk)),
  };
}

/** jose errors that describe the token rather than the key set; they reach the verifier as they are. */
const TOKEN_ERRORS = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS', 'ERR_JOSE_NOT_SUPPORTED']);

/** Turns every failure to obtain keys into IssuerKeysUnavailable, so the verifier never mistakes it for a bad token. */
function guarded(source: KeySource): KeySource {
  return async (header, token) => {
    try {
      return await source(header, token);
    } catch (err) {
      if (err instanceof errors.JOSEError && TOKEN_ERRORS.has(err.code)) throw err;
      if (err instanceof IssuerKeysUnavailable) throw err;
      throw new IssuerKeysUnavailable(err instanceof Error ? err.message : String(err), { cause: err });
    }
  };
}

/** The remote set as jose fetches it, with private keys removed before jose sees them. */
const publicOnlyFetch: FetchImplementation = async (url, init) => {
  const response = await fetch(url, init);
  if (response.status !== 200) return response;
  const body = JSON.stringify(publicOnly(await response.json()));
  return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
};

function remoteKeys(uri: string): KeySource {
  // jose caches the set, refetches when it is older than cacheMaxAge, and refetches on an unknown
  // kid at most once per cooldown; redirects are not followed.
  return createRemoteJWKSet(new URL(uri), {
    cooldownDuration: KEY_REFRESH_COOLDOWN_MS,
    cacheMaxAge: KEY_CACHE_MAX_AGE_MS,
    timeoutDuration: FETCH_TIMEOUT_MS,
    [customFetch]: publicOnlyFetch,
  });
}

/** Reads a JWKS file; a missing, unreadable or malformed file yields no key set (never an exception). */
async function readKeyFile(path: string): Promise<LocalJWKSet | undefined> {
  try {
    return createLocalJWKSet(publicOnly(JSON.parse(await readFile(path, 'utf8'))));
  } catch {
    return undefined;
  }
}

/** A JWKS file, cached; read again on an unknown kid (at most once per cooldown) and when stale. */
function fileKeys(path: string, now: () => number): KeySource {
  let local: LocalJWKSet | undefined;
  let readAt = Number.NEGATIVE_INFINITY;
  let pending: Promise<void> | undefined;
  // Concurrent requests share one read.
  const reload = (): Promise<void> => {
    pending ??= readKeyFile(path)
      .then((set) => {
        local = set;
      })
      .finally(() => {
        readAt = now();
        pending = undefined;
      });
    return pending;
  };
  const age = (): number => now() - readAt;
  const current = (): LocalJWKSet => {
    if (!local) throw new IssuerKeysUnavailable('jwks_file is missing or unreadable');
    return local;
  };

  return async (header, token) => {
    if (age() >= KEY_CACHE_MAX_AGE_MS || (!local && age() >= KEY_REFRESH_COOLDOWN_MS)) await reload();
    try {
      return await current()(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || age() < KEY_REFRESH_COOLDOWN_MS) throw err;
      await reload();
      return current()(header, token);
    }
  };
}

/** The key source of a trusted issuer (the schema guarantees exactly one of jwks_uri, jwks, jwks_file). */
export function trustedIssuerKeys(entry: TrustedIssuer, options: { now?: () => number } = {}): KeySource {
  if (entry.jwks_uri !== undefined) return guarded(remoteKeys(entry.jwks_uri));
  if (entry.jwks !== undefined) return guarded(createLocalJWKSet(publicOnly(entry.jwks)));
  if (entry.jwks_file !== undefined) return guarded(fileKeys(entry.jwks_file, options.now ?? Date.now));
  throw new TypeError(`trusted issuer ${entry.issuer} has no jwks_uri, jwks or jwks_file`);
}

/** Mandate's own keys, read on every use so that a rotation applies at once; imported keys are reused while the set is unchanged. */
export function mandateKeys(jwks: () => JSONWebKeySet): KeySource {
  let seen = '';
  let local: LocalJWKSet | undefined;
  return guarded(async (header, token) => {
    const set = publicOnly(jwks());
    const serialized = JSON.stringify(set);
    if (!local || serialized !== seen) {
      local = createLocalJWKSet(set);
      seen = serialized;
    }
    return local(header, token);
  });
}

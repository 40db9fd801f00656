import { createHash } from 'node:crypto';

import { jwtVerify, type JWTPayload } from 'jose';

import { toAgentToken, type AgentToken } from './agent-token.js';
import { assertRoute, authorizeRequest, authorizer, type Authorization, type HttpRequest, type RouteRequirements } from './authorize.js';
import { Discovery, unavailable, type Fetch } from './discovery.js';
import { checkProof, DEFAULT_DPOP_ALGORITHMS, type DpopPolicy, type ProofRequest } from './dpop.js';
import { AgentTokenError } from './errors.js';
import { ExpiringCache } from './expiring-cache.js';
import { Introspector, type IntrospectionOptions } from './introspection.js';
import { sharedJwks } from './jwks.js';
import { koaMiddleware, type KoaMiddleware } from './koa.js';
import { checkRequirements, type Requirements } from './requirements.js';

/** Asymmetric JWS algorithms accepted unless the verifier is given its own list. Never HS* or none. */
export const DEFAULT_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

export interface AgentTokenVerifierOptions {
  /** Mandate's issuer URL; its metadata (RFC 8414) names the JWKS and introspection endpoint. */
  issuer: string;
  /** This resource's identifier: tokens must name exactly it in `aud`. */
  audience: string;
  /** Accepted token signing algorithms (default DEFAULT_ALGORITHMS: asymmetric only). */
  algorithms?: string[];
  /** Allowed clock difference for `exp`, `nbf` and DPoP `iat`, seconds (default 5). */
  clockTolerance?: number;
  /** Scopes every request needs, whatever the route. */
  requiredScopes?: string[];
  /** Credentials for introspection; needed by routes that ask for `introspect: true`. */
  introspection?: IntrospectionOptions;
  dpop?: {
    /** Refuse tokens that are not DPoP-bound (default false: bound tokens always need a proof). */
    required?: boolean;
    /** Accepted proof algorithms (default ES256, ES384, EdDSA, Ed25519, RS256, PS256). */
    algorithms?: string[];
    /** How old a proof may be, seconds (default 60). */
    maxAgeSeconds?: number;
  };
  /** Verified tokens kept by token hash until their `exp` (default 10000 entries; 0 turns the cache off). */
  cacheSize?: number;
  /** After fetching the JWKS, an unknown `kid` waits this long before the next fetch, seconds (default 30). */
  jwksCooldown?: number;
  /** URL of this resource's RFC 9728 metadata, announced in challenges as `resource_metadata`. */
  resourceMetadata?: string;
  /** fetch implementation for discovery, JWKS and introspection (default globalThis.fetch). */
  fetch?: Fetch;
}

/** What one verification checks beyond the token itself. */
export interface VerifyOptions extends Requirements {
  /** The scheme the token came with (default Bearer). */
  scheme?: 'Bearer' | 'DPoP';
  /** The request, for the DPoP proof check of a bound token. */
  dpop?: ProofRequest;
  /** Ask the introspection endpoint whether the token was revoked (cached briefly). */
  introspect?: boolean;
}

export type VerifyResult = { valid: true; token: AgentToken } | { valid: false; error: AgentTokenError };

export interface AgentTokenVerifier {
  readonly issuer: string;
  readonly audience: string;
  /** Verifies an access token; never throws for anything the client sent. */
  verify(token: string, options?: VerifyOptions): Promise<VerifyResult>;
  /** Framework-free: checks a request's Authorization (and DPoP) header and says how to answer. */
  authorize(request: HttpRequest, requirements?: RouteRequirements): Promise<Authorization>;
  /** koa middleware: answers the challenge itself, or puts the token in `ctx.state.agentToken`. */
  requireAgentToken(requirements?: RouteRequirements): KoaMiddleware;
  /** The DPoP proof algorithms accepted (for `DPoP algs="…"` challenges). */
  readonly dpopAlgorithms: readonly string[];
  readonly resourceMetadata: string | undefined;
}

const MAX_TOKEN_BYTES = 16 * 1024;

export function createAgentTokenVerifier(options: AgentTokenVerifierOptions): AgentTokenVerifier {
  const config = validate(options);
  const fetch = options.fetch ?? globalThis.fetch;
  const discovery = new Discovery(config.issuer, fetch);
  const verified = config.cacheSize > 0 ? new ExpiringCache<AgentToken>(config.cacheSize) : undefined;
  const dpop: DpopPolicy = {
    algorithms: config.dpopAlgorithms,
    maxAgeSeconds: config.dpopMaxAge,
    clockToleranceSeconds: config.clockTolerance,
    seen: new ExpiringCache<true>(100_000),
    keys: new ExpiringCache(1_000),
  };
  const introspector = options.introspection ? new Introspector(options.introspection, fetch, new ExpiringCache<boolean>(10_000)) : undefined;

  async function verifySignature(token: string, now: number): Promise<AgentToken> {
    const metadata = await discovery.get(now);
    const jwks = sharedJwks(metadata.jwks_uri, { cooldownMs: config.jwksCooldown * 1000, fetch });
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: config.issuer, typ: 'at+jwt', algorithms: config.algorithms, clockTolerance: config.clockTolerance,
        currentDate: new Date(now), requiredClaims: ['exp', 'iat', 'sub', 'jti', 'aud'],
      }));
    } catch (err) {
      throw fromJose(err, config);
    }
    // Exact audience (SPEC section 4): one value, this resource. jose would accept any member of an array.
    const aud = payload.aud;
    if (!(aud === config.audience || (Array.isArray(aud) && aud.length === 1 && aud[0] === config.audience))) {
      throw new AgentTokenError('audience_mismatch', `the token is for ${JSON.stringify(aud)}, not ${config.audience}`);
    }
    return toAgentToken(payload, config.issuer);
  }

  async function verify(token: string, verifyOptions: VerifyOptions = {}): Promise<VerifyResult> {
    const now = Date.now();
    try {
      if (typeof token !== 'string' || token.length === 0) throw new AgentTokenError('token_missing', 'no access token was sent');
      if (token.length > MAX_TOKEN_BYTES) throw new AgentTokenError('token_malformed', `the token is larger than ${MAX_TOKEN_BYTES} bytes`);
      const hash = createHash('sha256').update(token).digest('base64url');
      let agentToken = verified?.get(hash, now);
      if (!agentToken) {
        agentToken = await verifySignature(token, now);
        verified?.set(hash, agentToken, agentToken.expiresAt * 1000, now);
      }
      await checkBinding(hash, agentToken, verifyOptions, now);
      if (verifyOptions.introspect) {
        if (!introspector) throw new TypeError('introspect: true needs the verifier\'s introspection option');
        await introspector.assertActive((await discovery.get(now)).introspection_endpoint, token, hash, agentToken.expiresAt, now);
      }
      checkRequirements(agentToken, { ...verifyOptions, scopes: [...config.requiredScopes, ...(verifyOptions.scopes ?? [])] }, now);
      return { valid: true, token: agentToken };
    } catch (err) {
      if (err instanceof AgentTokenError) return { valid: false, error: err };
      throw err;
    }
  }

  async function checkBinding(hash: string, agentToken: AgentToken, verifyOptions: VerifyOptions, now: number): Promise<void> {
    const scheme = verifyOptions.scheme ?? 'Bearer';
    if (agentToken.dpopJkt === undefined) {
      if (scheme === 'DPoP') throw new AgentTokenError('token_not_bound', 'the token is not DPoP-bound: send it with the Bearer scheme', { dpop: true });
      if (config.dpopRequired) throw new AgentTokenError('dpop_required', 'this resource accepts DPoP-bound tokens only', { dpop: true });
      return;
    }
    // RFC 9449 section 7.2: a bound token presented as Bearer is a downgrade.
    if (scheme !== 'DPoP') throw new AgentTokenError('dpop_scheme_required', 'the token is DPoP-bound: send it with the DPoP scheme and a proof', { dpop: true });
    await checkProof(verifyOptions.dpop ?? { proofs: [], method: '', url: '' }, hash, agentToken.dpopJkt, dpop, now);
  }

  const parts = { audience: config.audience, dpopAlgorithms: config.dpopAlgorithms, resourceMetadata: options.resourceMetadata, verify };
  const authorize = authorizer(parts, Boolean(introspector));
  const verifier: AgentTokenVerifier = {
    issuer: config.issuer,
    ...parts,
    authorize,
    requireAgentToken(requirements = {}) {
      assertRoute(requirements, Boolean(introspector));
      return koaMiddleware((request) => authorizeRequest(parts, request, requirements));
    },
  };
  return verifier;
}

/** Maps jose's error codes to the kit's, keeping no detail a client should not see. */
function fromJose(err: unknown, config: { issuer: string; algorithms: string[] }): AgentTokenError {
  const { code, claim } = err as { code?: string; claim?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED': return new AgentTokenError('token_expired', 'the token has expired');
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'iss') return new AgentTokenError('issuer_mismatch', `the token's issuer is not ${config.issuer}`);
      if (claim === 'typ') return new AgentTokenError('type_invalid', 'the token typ must be at+jwt');
      if (claim === 'nbf') return new AgentTokenError('token_not_yet_valid', 'the token is not valid yet (nbf)');
      return new AgentTokenError('claims_invalid', `the token's ${claim ?? 'claims'} claim is missing or invalid`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED': return new AgentTokenError('algorithm_not_allowed', `the token alg must be one of ${config.algorithms.join(', ')}`);
    case 'ERR_JWKS_NO_MATCHING_KEY': return new AgentTokenError('key_unknown', 'the token is signed with a key the issuer does not publish (kid unknown)');
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS': return new AgentTokenError('key_unknown', 'several published keys match the token header: it names no usable kid');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return new AgentTokenError('signature_invalid', 'the token signature is invalid');
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID': return new AgentTokenError('token_malformed', 'the token is not a signed JWT');
    default: return unavailable(`cannot read the issuer's keys: ${(err as Error).message}`);
  }
}

function validate(options: AgentTokenVerifierOptions) {
  const fail = (what: string): never => { throw new TypeError(`createAgentTokenVerifier: ${what}`); };
  if (!options || typeof options !== 'object') fail('options are required');
  const issuerUrl = URL.parse(options.issuer);
  if (!issuerUrl || !/^https?:$/.test(issuerUrl.protocol) || issuerUrl.search || issuerUrl.hash) fail(`issuer must be an http(s) URL without query or fragment, got ${JSON.stringify(options.issuer)}`);
  if (typeof options.audience !== 'string' || options.audience.length === 0) fail('audience must be the resource identifier (a non-empty string)');
  const algorithmList = (value: string[] | undefined, name: string, fallback: string[]): string[] => {
    if (value === undefined) return fallback;
    if (!Array.isArray(value) || value.length === 0) fail(`${name} must be a non-empty array of JWS algorithm names`);
    const refused = value.filter((a) => !DEFAULT_ALGORITHMS.includes(a));
    if (refused.length > 0) fail(`${name} must be asymmetric JWS algorithms (${DEFAULT_ALGORITHMS.join(', ')}), got ${JSON.stringify(refused)}`);
    return value;
  };
  const algorithms = algorithmList(options.algorithms, 'algorithms', DEFAULT_ALGORITHMS);
  const seconds = (value: number | undefined, name: string, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${name} must be a number of seconds ≥ 0, got ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`);
    return value;
  };
  const requiredScopes = options.requiredScopes ?? [];
  if (!Array.isArray(requiredScopes) || !requiredScopes.every((s) => typeof s === 'string' && /^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) fail('requiredScopes must be an array of scope tokens');
  const dpopAlgorithms = algorithmList(options.dpop?.algorithms, 'dpop.algorithms', DEFAULT_DPOP_ALGORITHMS);
  const cacheSize = options.cacheSize ?? 10_000;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) fail(`cacheSize must be a whole number ≥ 0, got ${typeof cacheSize === 'number' ? String(cacheSize) : JSON.stringify(cacheSize)}`);
  if (options.introspection && (typeof options.introspection.clientId !== 'string' || typeof options.introspection.clientSecret !== 'string')) {
    fail('introspection needs clientId and clientSecret');
  }
  return {
    issuer: options.issuer, audience: options.audience, algorithms, requiredScopes, dpopAlgorithms, cacheSize,
    clockTolerance: seconds(options.clockTolerance, 'clockTolerance', 5),
    dpopMaxAge: seconds(options.dpop?.maxAgeSeconds, 'dpop.maxAgeSeconds', 60),
    dpopRequired: options.dpop?.required === true,
    jwksCooldown: seconds(options.jwksCooldown, 'jwksCooldown', 30),
  };
}

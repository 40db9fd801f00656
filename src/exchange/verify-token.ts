import { Buffer } from 'node:buffer';
import { errors } from 'jose';
import type { JSONWebKeySet, JWSHeaderParameters, JWTPayload } from 'jose';
import { SIGNING_ALGS } from '../keys/keystore.js';
import { verifyJwt } from './fast-verify.js';
import { IssuerKeysUnavailable, mandateKeys, trustedIssuerKeys } from './issuer-keys.js';
import type { KeySource, TrustedIssuer } from './issuer-keys.js';
import { readHeader, readIssuer, shown } from './token-shape.js';
import type { TokenHeader } from './token-shape.js';
import { readVerifiedClaims } from './token-claims.js';
import { fail, ok, TOKEN_TYPE } from './types.js';
import type { Result, TokenTypeName, VerifiedToken } from './types.js';

export type { TrustedIssuer } from './issuer-keys.js';

/**
 * Verification of the subject and actor tokens of a token exchange (SPEC section 5, rule 1).
 * Cheap checks on the raw token come first (size, type, shape, header, issuer, algorithm, typ),
 * then the signature and times with jose. No store I/O: the caller checks the revocation state
 * of Mandate-issued tokens. Every refusal is invalid_request naming the parameter; nothing here
 * throws for bad input, and no description contains the token.
 */

export type TokenParam = 'subject_token' | 'actor_token';

export interface TokenVerifierDeps {
  /** Mandate's own `iss`: its tokens are checked against its keys and must be access tokens. */
  mandateIssuer: string;
  /** Mandate's current public keys, read on every verification so that rotation applies at once. */
  mandateJwks: () => JSONWebKeySet;
  /** The policy's `trusted_issuers`: keys, pinned algorithms, audiences, accepted token types. */
  trustedIssuers: TrustedIssuer[];
  /** Tolerance for exp, nbf and iat (s). */
  clockSkewSeconds: number;
  /** Size limit in bytes, checked before any parsing. */
  maxTokenBytes: number;
  /** Milliseconds since the epoch (default Date.now); tests move it instead of sleeping. */
  now?: () => number;
}

export interface TokenVerifier {
  verify(token: string, declaredTypeUrn: string, param: TokenParam): Promise<Result<VerifiedToken>>;
}

/** What is accepted from one issuer. */
interface IssuerRule {
  issuer: string;
  mandate: boolean;
  keys: KeySource;
  algorithms: readonly string[];
  tokenTypes: readonly TokenTypeName[];
  /** `aud` must name one of these (trusted issuers); Mandate's audiences are checked by policy. */
  audiences?: string[];
}

const TYPE_NAMES = Object.keys(TOKEN_TYPE) as TokenTypeName[];

function declaredType(urn: string, param: TokenParam): Result<TokenTypeName> {
  const name = TYPE_NAMES.find((type) => TOKEN_TYPE[type] === urn);
  return name ? ok(name) : fail('invalid_request', `${param}_type ${shown(urn)} is not supported (use ${TOKEN_TYPE.access_token}, ${TOKEN_TYPE.jwt} or ${TOKEN_TYPE.id_token})`);
}

function checkSize(token: string, maxBytes: number, param: TokenParam): Result<void> {
  if (typeof token !== 'string' || token.length === 0) return fail('invalid_request', `${param}: missing`);
  // Length in UTF-16 units first: a huge string is refused without walking it to count bytes.
  if (token.length > maxBytes || Buffer.byteLength(token, 'utf8') > maxBytes) {
    return fail('invalid_request', `${param}: larger than the limit of ${maxBytes} bytes`);
  }
  return ok(undefined);
}

function checkTypeForIssuer(rule: IssuerRule, type: TokenTypeName, param: TokenParam): Result<void> {
  if (rule.tokenTypes.includes(type)) return ok(undefined);
  if (rule.mandate) {
    return fail('invalid_request', `${param}: declared type mismatch: Mandate issues only access tokens, ${param}_type must be ${TOKEN_TYPE.access_token}`);
  }
  return fail('invalid_request', `${param}: declared type ${type} is not accepted from issuer ${rule.issuer} (accepted: ${rule.tokenTypes.join(', ')})`);
}

/** RFC 9068 access tokens say `at+jwt`; a plain JWT or ID token must not (RFC 8725 section 3.11). */
function checkTyp(header: JWSHeaderParameters, type: TokenTypeName, param: TokenParam): Result<void> {
  const typ = header.typ;
  if (typ !== undefined && typeof typ !== 'string') return fail('invalid_request', `${param}: header typ must be a string`);
  const normalized = typ?.toLowerCase().replace(/^application\//, '');
  if (type === 'access_token') {
    if (normalized === 'at+jwt') return ok(undefined);
    return fail('invalid_request', `${param}: declared type mismatch: typ ${typ === undefined ? '(none)' : shown(typ)} is not an access token (RFC 9068 requires at+jwt)`);
  }
  if (normalized === undefined || normalized === 'jwt') return ok(undefined);
  if (normalized === 'at+jwt') return fail('invalid_request', `${param}: declared type mismatch: typ at+jwt is an access token, not ${type}`);
  return fail('invalid_request', `${param}: declared type mismatch: typ ${shown(typ)} is not valid for ${type}`);
}

/** jose's refusals as short descriptions; anything that is not about the token is rethrown. */
function describeFailure(err: unknown, rule: IssuerRule, header: TokenHeader, param: TokenParam): Result<never> {
  const refuse = (what: string): Result<never> => fail('invalid_request', `${param}: ${what}`);
  if (err instanceof IssuerKeysUnavailable) return refuse(`issuer keys unavailable for ${rule.issuer}`);
  if (err instanceof errors.JWTClaimValidationFailed || err instanceof errors.JWTExpired) {
    if (err.code === 'ERR_JWT_EXPIRED') return refuse('expired');
    if (err.reason === 'missing') return refuse(`claim ${err.claim} is missing`);
    if (err.reason === 'invalid') return refuse(`claim ${err.claim} must be a number`);
    if (err.claim === 'nbf') return refuse('not valid yet (nbf)');
    if (err.claim === 'aud') return refuse(`audience not accepted by issuer ${rule.issuer}`);
    return refuse(`claim ${err.claim} is not accepted`);
  }
  if (!(err instanceof errors.JOSEError)) throw err;
  switch (err.code) {
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return refuse(`no key matches kid ${shown(header.kid ?? '(none)')} for issuer ${rule.issuer}`);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return refuse('signature invalid');
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return refuse(`algorithm ${shown(header.alg)} not allowed for issuer ${rule.issuer}`);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return refuse(`issuer keys unavailable for ${rule.issuer}`);
    default:
      // ERR_JWS_INVALID / ERR_JWT_INVALID: jose's messages are fixed strings, never token content.
      return refuse(`malformed token (${err.message})`);
  }
}

export function createTokenVerifier(deps: TokenVerifierDeps): TokenVerifier {
  const now = deps.now ?? Date.now;
  const skew = deps.clockSkewSeconds;
  const rules = new Map<string, IssuerRule>();
  for (const entry of deps.trustedIssuers) {
    rules.set(entry.issuer, {
      issuer: entry.issuer, mandate: false, keys: trustedIssuerKeys(entry, { now }),
      algorithms: entry.algorithms, tokenTypes: entry.token_types, audiences: entry.audiences,
    });
  }
  // Set last: Mandate's own issuer can never be re-routed to other keys by configuration.
  rules.set(deps.mandateIssuer, {
    issuer: deps.mandateIssuer, mandate: true, keys: mandateKeys(deps.mandateJwks), algorithms: SIGNING_ALGS, tokenTypes: ['access_token'],
  });

  async function verify(token: string, declaredTypeUrn: string, param: TokenParam): Promise<Result<VerifiedToken>> {
    const size = checkSize(token, deps.maxTokenBytes, param);
    if (!size.ok) return size;
    const type = declaredType(declaredTypeUrn, param);
    if (!type.ok) return type;
    const header = readHeader(token, param);
    if (!header.ok) return header;
    const issuer = readIssuer(token, param);
    if (!issuer.ok) return issuer;
    const rule = rules.get(issuer.value);
    if (!rule) return fail('invalid_request', `${param}: issuer ${shown(issuer.value)} is not trusted`);
    const accepted = checkTypeForIssuer(rule, type.value, param);
    if (!accepted.ok) return accepted;
    // Before any key is looked at: an HMAC "signed" with a public key never reaches a verifier.
    if (!rule.algorithms.includes(header.value.alg)) {
      return fail('invalid_request', `${param}: algorithm ${shown(header.value.alg)} not allowed for issuer ${rule.issuer}`);
    }
    const typ = checkTyp(header.value, type.value, param);
    if (!typ.ok) return typ;

    let payload: JWTPayload;
    try {
      payload = await verifyJwt(token, header.value, rule.keys, {
        issuer: rule.issuer,
        algorithms: rule.algorithms,
        clockTolerance: skew,
        now: now(),
        requiredClaims: ['exp', 'sub'],
        ...(rule.audiences ? { audience: rule.audiences } : {}),
      });
    } catch (err) {
      return describeFailure(err, rule, header.value, param);
    }
    if (payload.iat !== undefined && payload.iat > Math.floor(now() / 1000) + skew) return fail('invalid_request', `${param}: issued in the future (iat)`);
    if (rule.mandate && (typeof payload.jti !== 'string' || payload.jti.length === 0)) {
      return fail('invalid_request', `${param}: claim jti is missing (Mandate tokens carry one)`);
    }
    return readVerifiedClaims(payload, { issuer: rule.issuer, mandateIssued: rule.mandate, tokenType: type.value }, param);
  }

  return { verify };
}

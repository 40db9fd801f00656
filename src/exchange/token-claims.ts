import type { JWTPayload } from 'jose';
import { parseActClaim } from './act-claim.js';
import { fail, ok } from './types.js';
import type { AuthorizationDetail, Result, TokenTypeName, VerifiedToken } from './types.js';

/**
 * Reads the claims of a token whose signature, issuer and times have been checked into a typed
 * VerifiedToken. A claim of the wrong type refuses the token: policy decisions later rely on
 * these types and must never see, say, a `scope` that is an object.
 */

type Claims = Record<string, unknown>;

const isObject = (value: unknown): value is Claims => typeof value === 'object' && value !== null && !Array.isArray(value);
const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** What the verifier established before reading the claims. */
export interface TokenOrigin {
  issuer: string;
  mandateIssued: boolean;
  tokenType: TokenTypeName;
}

class ClaimError extends Error {}

/** Reads one optional claim with a type guard; the message names the claim and the expected type. */
function optional<T>(claims: Claims, name: string, guard: (value: unknown) => value is T, expected: string): T | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (!guard(value)) throw new ClaimError(`${name} must be ${expected}`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isDetails = (value: unknown): value is AuthorizationDetail[] =>
  Array.isArray(value) && value.every((item) => isObject(item) && isNonEmptyString(item.type));

function audience(claims: Claims): string[] {
  const aud = optional(claims, 'aud', (v): v is string | string[] => isString(v) || isStringArray(v), 'a string or an array of strings');
  if (aud === undefined) return [];
  return typeof aud === 'string' ? [aud] : [...aud];
}

/** `scope` (RFC 9068, space-separated) or `scp` (a list, as some IdPs send it). */
function scopes(claims: Claims): string[] | undefined {
  const scope = optional(claims, 'scope', isString, 'a space-separated string');
  if (scope !== undefined) return scope.split(' ').filter((token) => token.length > 0);
  const scp = optional(claims, 'scp', isStringArray, 'an array of strings');
  return scp && [...scp];
}

function mayAct(claims: Claims): VerifiedToken['mayAct'] {
  const value = optional(claims, 'may_act', isObject, 'an object');
  if (value === undefined) return undefined;
  const { sub, iss } = value;
  if (!isNonEmptyString(sub)) throw new ClaimError('may_act.sub must be a non-empty string');
  if (iss !== undefined && !isString(iss)) throw new ClaimError('may_act.iss must be a string');
  return iss === undefined ? { sub } : { sub, iss };
}

function confirmationJkt(claims: Claims): string | undefined {
  const cnf = optional(claims, 'cnf', isObject, 'an object');
  if (cnf === undefined) return undefined;
  const jkt = cnf.jkt;
  if (jkt !== undefined && !isNonEmptyString(jkt)) throw new ClaimError('cnf.jkt must be a non-empty string');
  return jkt;
}

/** Drops undefined members so that the result compares and serialises cleanly. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}

/** Builds the VerifiedToken; every refusal is invalid_request naming `param` and the claim. */
export function readVerifiedClaims(payload: JWTPayload, origin: TokenOrigin, param: string): Result<VerifiedToken> {
  const claims: Claims = payload;
  const act = parseActClaim(claims.act, `${param} act`);
  if (!act.ok) return act;
  try {
    const sub = optional(claims, 'sub', isNonEmptyString, 'a non-empty string');
    const exp = optional(claims, 'exp', isNumber, 'a number');
    // jose's requiredClaims already insists on both; this keeps the types honest.
    if (sub === undefined || exp === undefined) throw new ClaimError('sub and exp are required');
    return ok(defined<VerifiedToken>({
      ...origin,
      sub,
      aud: audience(claims),
      scope: scopes(claims),
      exp,
      iat: optional(claims, 'iat', isNumber, 'a number'),
      jti: optional(claims, 'jti', isNonEmptyString, 'a non-empty string'),
      clientId: optional(claims, 'client_id', isNonEmptyString, 'a non-empty string'),
      act: act.value,
      mayAct: mayAct(claims),
      cnfJkt: confirmationJkt(claims),
      authorizationDetails: optional(claims, 'authorization_details', isDetails, 'an array of objects with a string type'),
      subIss: optional(claims, 'sub_iss', isString, 'a string'),
      approvalId: optional(claims, 'approval_id', isString, 'a string'),
      acr: optional(claims, 'acr', isString, 'a string'),
      amr: optional(claims, 'amr', isStringArray, 'an array of strings'),
      authTime: optional(claims, 'auth_time', isNumber, 'a number'),
    }));
  } catch (err) {
    if (err instanceof ClaimError) return fail('invalid_request', `${param}: claim ${err.message}`);
    throw err;
  }
}

import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { JWSHeaderParameters } from 'jose';
import { fail, ok } from './types.js';
import type { Result } from './types.js';

/**
 * Checks on a token before its signature is verified: its shape and its header. Nothing read here
 * is trusted yet; it only decides which keys and rules apply, or refuses early.
 */

/** A protected header whose `alg` is present and is not `none`. */
export interface TokenHeader extends JWSHeaderParameters {
  alg: string;
}

/**
 * Headers that would let the token pick its own key (RFC 8725 section 3.1 and 2.7): keys come from
 * configuration only, so a token carrying them is refused rather than silently ignored. `crit`
 * asks for extensions Mandate does not implement (RFC 7515 section 4.1.11).
 */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'] as const;

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * A value from an unverified token, fit for an error description: RFC 6749 section 5.2 allows
 * only printable ASCII without `"` and `\` there, and a long value says nothing more.
 */
export function shown(value: unknown): string {
  if (typeof value !== 'string') return '(not a string)';
  const printable = value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '?');
  return printable.length > 80 ? `${printable.slice(0, 80)}...` : printable;
}

/** Compact JWS shape and protected header: alg present and not none, no key-selecting headers. */
export function readHeader(token: string, param: string): Result<TokenHeader> {
  const parts = token.split('.');
  if (parts.length === 5) return fail('invalid_request', `${param}: encrypted tokens (JWE) are not accepted, send a signed JWT`);
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part)) || !parts[0] || !parts[1]) {
    return fail('invalid_request', `${param}: not a JWT (expected three base64url parts: header.payload.signature)`);
  }
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(token) as JWSHeaderParameters;
  } catch {
    return fail('invalid_request', `${param}: header is not base64url-encoded JSON`);
  }
  const { alg } = header;
  if (typeof alg !== 'string' || alg.length === 0) return fail('invalid_request', `${param}: header alg is missing`);
  if (alg.toLowerCase() === 'none') return fail('invalid_request', `${param}: alg none is not accepted (the token must be signed)`);
  const forbidden = FORBIDDEN_HEADERS.find((name) => Object.hasOwn(header, name));
  if (forbidden) return fail('invalid_request', `${param}: header ${forbidden} is not accepted (keys come from configuration only)`);
  if (!parts[2]) return fail('invalid_request', `${param}: signature is missing`);
  return ok({ ...header, alg });
}

/** The unverified `iss`, used only to choose the keys and rules the token is then checked with. */
export function readIssuer(token: string, param: string): Result<string> {
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    return fail('invalid_request', `${param}: payload is not a base64url-encoded JSON object`);
  }
  if (typeof payload.iss !== 'string' || payload.iss.length === 0) return fail('invalid_request', `${param}: issuer (no iss claim) is not trusted`);
  return ok(payload.iss);
}

import { fail, ok } from './types.js';
import type { ActClaim, Result } from './types.js';

/**
 * The `act` claim (RFC 8693 section 4.1) read from a verified token. Entries keep identity claims
 * only (SPEC section 4): anything else an issuer put in them is dropped, so that nothing
 * unchecked travels on into the tokens Mandate mints from this chain.
 */

/** Deepest nesting accepted when reading a token; the policy's max_delegation_depth (≤ 10) is checked later. */
export const MAX_ACT_NESTING = 10;
const MAX_SUB_LENGTH = 255;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses an `act` value: undefined stays undefined, anything else must be a well-formed chain.
 * `path` prefixes every error description (e.g. `subject_token act`), and grows with the nesting
 * (`subject_token act.act: ...`) so that the description points at the faulty entry.
 */
export function parseActClaim(value: unknown, path = 'act'): Result<ActClaim | undefined> {
  if (value === undefined) return ok(undefined);
  // Read outermost first, then rebuild innermost first: no recursion over input we do not control.
  const entries: { sub: string; iss?: string }[] = [];
  let current: unknown = value;
  let at = path;
  while (current !== undefined) {
    if (entries.length === MAX_ACT_NESTING) return fail('invalid_request', `${at}: act nesting deeper than ${MAX_ACT_NESTING} levels`);
    if (!isObject(current)) return fail('invalid_request', `${at}: must be an object`);
    const { sub, iss } = current;
    if (typeof sub !== 'string' || sub.length === 0) return fail('invalid_request', `${at}: sub must be a non-empty string`);
    if (sub.length > MAX_SUB_LENGTH) return fail('invalid_request', `${at}: sub must be at most ${MAX_SUB_LENGTH} characters`);
    if (iss !== undefined && typeof iss !== 'string') return fail('invalid_request', `${at}: iss must be a string`);
    entries.push(iss === undefined ? { sub } : { sub, iss });
    current = current.act;
    at = `${at}.act`;
  }
  let chain: ActClaim | undefined;
  for (const entry of entries.reverse()) chain = chain === undefined ? entry : { ...entry, act: chain };
  return ok(chain);
}

/** The actors of a chain as a list, outermost (the one acting now) first. */
export function actChain(act?: ActClaim): ActClaim[] {
  const chain: ActClaim[] = [];
  for (let entry = act; entry !== undefined; entry = entry.act) chain.push(entry);
  return chain;
}

/** Number of actors in a chain (0 without `act`). */
export const actDepth = (act?: ActClaim): number => actChain(act).length;

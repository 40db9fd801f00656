import type { AgentToken } from './agent-token.js';
import { AgentTokenError } from './errors.js';

/** What a route asks of a valid token. */
export interface Requirements {
  /** Every one of these scopes must be granted. */
  scopes?: readonly string[];
  /**
   * The token's `acr` must be one of these (RFC 9470). Mandate sets `acr: phr` on tokens a human
   * approved with a passkey, so `acr: 'phr'` makes a route need an approved token.
   */
  acr?: string | readonly string[];
  /** The authentication (`auth_time`) must be at most this many seconds old (RFC 9470 `max_age`). */
  maxAge?: number;
}

/** Scope first (403 insufficient_scope), then step-up (401 insufficient_user_authentication). */
export function checkRequirements(token: AgentToken, required: Requirements, now: number): void {
  const scopes = [...new Set(required.scopes ?? [])];
  const missing = scopes.filter((s) => !token.scopes.includes(s));
  if (missing.length > 0) {
    throw new AgentTokenError('scope_insufficient', `the token lacks the scope ${missing.join(' ')}`, { scope: scopes });
  }

  const acrValues = required.acr === undefined ? [] : typeof required.acr === 'string' ? [required.acr] : [...required.acr];
  const { acr, auth_time: authTime } = token.claims as { acr?: unknown; auth_time?: unknown };
  const stepUp = { ...(acrValues.length > 0 ? { acrValues } : {}), ...(required.maxAge !== undefined ? { maxAge: required.maxAge } : {}) };
  if (acrValues.length > 0 && !acrValues.includes(acr as string)) {
    throw new AgentTokenError('user_authentication_required', `this request needs a human approval (acr ${acrValues.join(' or ')})`, stepUp);
  }
  if (required.maxAge !== undefined && (typeof authTime !== 'number' || now / 1000 - authTime > required.maxAge)) {
    throw new AgentTokenError('user_authentication_required', `this request needs a human approval from the last ${required.maxAge} s`, stepUp);
  }
}

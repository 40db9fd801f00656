/**
 * Every way a request can be refused, each with a stable `code` callers can switch on (as jose's
 * `ERR_JWT_EXPIRED`), the OAuth error it is answered with (RFC 6750, RFC 9449, RFC 9470) and the
 * HTTP status. The table is the documentation: one row per code.
 */
export const ERRORS = {
  token_missing: { error: 'invalid_token', status: 401 },
  request_malformed: { error: 'invalid_request', status: 400 },
  token_malformed: { error: 'invalid_token', status: 401 },
  type_invalid: { error: 'invalid_token', status: 401 },
  algorithm_not_allowed: { error: 'invalid_token', status: 401 },
  key_unknown: { error: 'invalid_token', status: 401 },
  signature_invalid: { error: 'invalid_token', status: 401 },
  issuer_mismatch: { error: 'invalid_token', status: 401 },
  audience_mismatch: { error: 'invalid_token', status: 401 },
  token_expired: { error: 'invalid_token', status: 401 },
  token_not_yet_valid: { error: 'invalid_token', status: 401 },
  claims_invalid: { error: 'invalid_token', status: 401 },
  token_revoked: { error: 'invalid_token', status: 401 },
  token_not_bound: { error: 'invalid_token', status: 401 },
  dpop_required: { error: 'invalid_token', status: 401 },
  dpop_scheme_required: { error: 'invalid_token', status: 401 },
  dpop_proof_missing: { error: 'invalid_dpop_proof', status: 401 },
  dpop_proof_invalid: { error: 'invalid_dpop_proof', status: 401 },
  dpop_key_mismatch: { error: 'invalid_dpop_proof', status: 401 },
  dpop_htm_mismatch: { error: 'invalid_dpop_proof', status: 401 },
  dpop_htu_mismatch: { error: 'invalid_dpop_proof', status: 401 },
  dpop_ath_mismatch: { error: 'invalid_dpop_proof', status: 401 },
  dpop_proof_stale: { error: 'invalid_dpop_proof', status: 401 },
  dpop_proof_replayed: { error: 'invalid_dpop_proof', status: 401 },
  scope_insufficient: { error: 'insufficient_scope', status: 403 },
  user_authentication_required: { error: 'insufficient_user_authentication', status: 401 },
  authorization_server_unavailable: { error: 'temporarily_unavailable', status: 503 },
  introspection_refused: { error: 'temporarily_unavailable', status: 503 },
} as const;

export type AgentTokenErrorCode = keyof typeof ERRORS;
export type OAuthErrorCode = (typeof ERRORS)[AgentTokenErrorCode]['error'];

/** What a step-up or scope refusal tells the client to ask for next. */
export interface ErrorDetails {
  /** insufficient_scope: every scope the route needs (RFC 6750 section 3). */
  scope?: readonly string[];
  /** insufficient_user_authentication: acceptable `acr` values (RFC 9470 section 3). */
  acrValues?: readonly string[];
  /** insufficient_user_authentication: the largest acceptable age of the authentication, seconds. */
  maxAge?: number;
  /** The token or proof was presented with (or needs) the DPoP scheme. */
  dpop?: boolean;
}

export class AgentTokenError extends Error {
  override readonly name = 'AgentTokenError';
  readonly code: AgentTokenErrorCode;
  readonly error: OAuthErrorCode;
  readonly status: 400 | 401 | 403 | 503;
  readonly details: ErrorDetails;

  constructor(code: AgentTokenErrorCode, description: string, details: ErrorDetails = {}) {
    super(description);
    this.code = code;
    this.error = ERRORS[code].error;
    this.status = ERRORS[code].status;
    this.details = details;
  }
}

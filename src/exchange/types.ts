/**
 * Typed inputs of token exchange (RFC 8693, SPEC sections 4 and 5). The grant handler converts
 * the request and the verified tokens into these at the boundary; every decision below works on
 * them as pure functions (src/policy/).
 */

/** RFC 8693 token type URNs Mandate understands. */
export const TOKEN_TYPE = {
  access_token: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  id_token: 'urn:ietf:params:oauth:token-type:id_token',
} as const;
export type TokenTypeName = keyof typeof TOKEN_TYPE;

/** The `act` claim (RFC 8693 section 4.1): identity claims only, nested = earlier actors. */
export interface ActClaim {
  sub: string;
  iss?: string;
  act?: ActClaim;
}

/** RFC 9396 authorization detail (the task). `type` is required; the rest depends on the type. */
export interface AuthorizationDetail {
  type: string;
  [field: string]: unknown;
}

/** A subject or actor token whose signature and claims have been checked. */
export interface VerifiedToken {
  /** `iss` of the token. */
  issuer: string;
  /** True when Mandate itself issued it (then `jti` and a stored record exist). */
  mandateIssued: boolean;
  /** The declared type the token was accepted as. */
  tokenType: TokenTypeName;
  sub: string;
  /** `aud`, always as a list (possibly empty). */
  aud: string[];
  /** Space-separated `scope` (or `scp` list) as a list; undefined when the token carries none. */
  scope?: string[];
  exp: number;
  iat?: number;
  jti?: string;
  /** `client_id` (RFC 9068): for Mandate tokens, the agent or client that holds it. */
  clientId?: string;
  act?: ActClaim;
  /** RFC 8693 section 4.4 `may_act`: who may act for the subject. */
  mayAct?: { sub: string; iss?: string };
  /** RFC 9449 confirmation: JWK thumbprint of the key the token is bound to. */
  cnfJkt?: string;
  authorizationDetails?: AuthorizationDetail[];
  /** Issuer of `sub` when it is not Mandate (`sub_iss` on Mandate tokens). */
  subIss?: string;
  /** Approval-related claims, carried through unchanged when present. */
  approvalId?: string;
  acr?: string;
  amr?: string[];
  authTime?: number;
}

/** An error a policy decision returns: OAuth error code, description naming the problem. */
export interface PolicyError {
  error: 'invalid_request' | 'invalid_scope' | 'invalid_target' | 'unauthorized_client' | 'invalid_client' | 'invalid_authorization_details' | 'invalid_dpop_proof';
  description: string;
  /** Short machine-readable reason for the audit trail (e.g. `agent_suspended`). */
  reason?: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: PolicyError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (error: PolicyError['error'], description: string, reason?: string): Result<never> =>
  ({ ok: false, error: reason === undefined ? { error, description } : { error, description, reason } });

import type { AgentToken } from './agent-token.js';
import { AgentTokenError } from './errors.js';
import type { Requirements } from './requirements.js';
import type { AgentTokenVerifier } from './verifier.js';

/** The parts of an HTTP request the kit reads, whatever the framework. */
export interface HttpRequest {
  method: string;
  /** The absolute URL the client addressed (DPoP proofs are bound to it). */
  url: string;
  /** Node's `req.headers` or a fetch `Headers`. */
  headers: Record<string, string | string[] | undefined> | Headers;
}

export interface RouteRequirements extends Requirements {
  /** Also ask the introspection endpoint (revocation-sensitive routes; answers cached briefly). */
  introspect?: boolean;
}

/** How to answer: go on with the token, or send exactly this status, these headers and this body. */
export type Authorization =
  | { ok: true; token: AgentToken }
  | { ok: false; status: number; headers: Record<string, string>; body: { error: string; error_description: string }; error: AgentTokenError };

/** RFC 6750 section 2.1 b64token. */
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*)$/i;

function header(headers: HttpRequest['headers'], name: string): string | undefined {
  const value = headers instanceof Headers ? headers.get(name) ?? undefined : headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A route that cannot work is a programming error, reported when the route is built. */
export function assertRoute(requirements: RouteRequirements, canIntrospect: boolean): void {
  if (requirements.introspect && !canIntrospect) {
    throw new TypeError('introspect: true needs the verifier\'s introspection option (clientId, clientSecret)');
  }
  const scopes = requirements.scopes ?? [];
  if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string' && s.length > 0)) throw new TypeError('scopes must be an array of scope names');
  if (requirements.maxAge !== undefined && !(Number.isInteger(requirements.maxAge) && requirements.maxAge >= 0)) throw new TypeError('maxAge must be whole seconds ≥ 0');
}

/** What authorizing a request needs from the verifier. */
export type AuthorizerParts = Pick<AgentTokenVerifier, 'verify' | 'audience' | 'dpopAlgorithms' | 'resourceMetadata'>;

/** `authorize` for callers that pass requirements per call: they are checked on each call. */
export function authorizer(verifier: AuthorizerParts, canIntrospect: boolean) {
  return function authorize(request: HttpRequest, requirements: RouteRequirements = {}): Promise<Authorization> {
    assertRoute(requirements, canIntrospect);
    return authorizeRequest(verifier, request, requirements);
  };
}

/** The request path itself, for requirements already checked (a route built once by requireAgentToken). */
export async function authorizeRequest(verifier: AuthorizerParts, request: HttpRequest, requirements: RouteRequirements): Promise<Authorization> {
  const authorization = header(request.headers, 'authorization');
  const dpopHeader = header(request.headers, 'dpop');
  let scheme: 'Bearer' | 'DPoP' = dpopHeader === undefined ? 'Bearer' : 'DPoP';
  let error: AgentTokenError;
  if (authorization === undefined || !/^(Bearer|DPoP)(\s|$)/i.test(authorization)) {
    error = new AgentTokenError('token_missing', 'send an access token in the Authorization header (Bearer or DPoP scheme)');
  } else {
    const match = AUTHORIZATION.exec(authorization.trim());
    if (!match) {
      error = new AgentTokenError('request_malformed', 'the Authorization header must be "<scheme> <token>" with one token');
    } else {
      scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
      // A JWS has no commas or spaces: several DPoP headers arrive joined by ", ".
      const proofs = dpopHeader === undefined ? [] : dpopHeader.split(',').map((p) => p.trim()).filter(Boolean);
      const result = await verifier.verify(match[2]!, { ...requirements, scheme, dpop: { proofs, method: request.method.toUpperCase(), url: request.url } });
      if (result.valid) return { ok: true, token: result.token };
      error = result.error;
    }
  }
  return refusal(verifier, error, scheme);
}

/** The RFC 6750 / 9449 / 9470 answer for a refusal. */
export function refusal(verifier: Pick<AgentTokenVerifier, 'audience' | 'dpopAlgorithms' | 'resourceMetadata'>, error: AgentTokenError, scheme: 'Bearer' | 'DPoP'): Authorization & { ok: false } {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (error.status === 503) {
    headers['retry-after'] = '5';
  } else {
    // No credentials: offer both schemes (RFC 9449 section 7.1); otherwise answer in the scheme at hand.
    headers['www-authenticate'] = error.code === 'token_missing'
      ? `${challenge(verifier, error, 'Bearer')}, ${challenge(verifier, error, 'DPoP')}`
      : challenge(verifier, error, error.details.dpop || scheme === 'DPoP' ? 'DPoP' : 'Bearer');
  }
  return { ok: false, status: error.status, headers, body: { error: error.error, error_description: error.message }, error };
}

function challenge(verifier: Pick<AgentTokenVerifier, 'audience' | 'dpopAlgorithms' | 'resourceMetadata'>, error: AgentTokenError, scheme: 'Bearer' | 'DPoP'): string {
  const params: [string, string][] = [['realm', verifier.audience]];
  // RFC 6750 section 3.1: a request without credentials gets a challenge without an error code.
  if (error.code !== 'token_missing') params.push(['error', error.error], ['error_description', error.message]);
  const { scope, acrValues, maxAge } = error.details;
  if (scope) params.push(['scope', scope.join(' ')]);
  if (acrValues) params.push(['acr_values', acrValues.join(' ')]);
  if (maxAge !== undefined) params.push(['max_age', String(maxAge)]);
  if (verifier.resourceMetadata) params.push(['resource_metadata', verifier.resourceMetadata]);
  if (scheme === 'DPoP') params.push(['algs', verifier.dpopAlgorithms.join(' ')]);
  return `${scheme} ${params.map(([name, value]) => `${name}="${quotable(value)}"`).join(', ')}`;
}

/** RFC 6750 section 3: quoted values hold printable ASCII except `"` and `\`. */
const quotable = (value: string): string => value.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');

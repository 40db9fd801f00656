import { TOKEN_TYPE, fail, ok, type Result } from './types.js';

/** A token-exchange request after parameter checks (RFC 8693 section 2.1). */
export interface ExchangeRequest {
  subjectToken: string;
  subjectTokenType: string;
  actorToken?: string;
  actorTokenType?: string;
  /** `resource` and `audience` values together (rule 5 allows at most one). */
  targets: string[];
  scopes: string[];
  requestedTokenType: string;
  authorizationDetails?: string;
}

type Params = Record<string, unknown>;

const list = (value: unknown): string[] => (value === undefined ? [] : [value].flat().filter((v): v is string => typeof v === 'string'));

/** Checks presence and combinations of parameters; token contents are checked elsewhere. */
export function parseExchangeRequest(params: Params): Result<ExchangeRequest> {
  const subjectToken = params.subject_token;
  const subjectTokenType = params.subject_token_type;
  if (typeof subjectToken !== 'string' || subjectToken === '') return fail('invalid_request', 'subject_token is required');
  if (typeof subjectTokenType !== 'string' || subjectTokenType === '') return fail('invalid_request', 'subject_token_type is required');

  const actorToken = typeof params.actor_token === 'string' && params.actor_token !== '' ? params.actor_token : undefined;
  const actorTokenType = typeof params.actor_token_type === 'string' && params.actor_token_type !== '' ? params.actor_token_type : undefined;
  if (actorToken !== undefined && actorTokenType === undefined) return fail('invalid_request', 'actor_token_type is required with actor_token');
  if (actorToken === undefined && actorTokenType !== undefined) return fail('invalid_request', 'actor_token_type given without actor_token');

  // Rule 7: Mandate issues access tokens only, as RFC 9068 JWTs; never refresh tokens.
  const requestedTokenType = typeof params.requested_token_type === 'string' && params.requested_token_type !== ''
    ? params.requested_token_type : TOKEN_TYPE.access_token;
  if (requestedTokenType !== TOKEN_TYPE.access_token && requestedTokenType !== TOKEN_TYPE.jwt) {
    return fail('invalid_request', `requested_token_type ${requestedTokenType} is not supported: use ${TOKEN_TYPE.access_token} or ${TOKEN_TYPE.jwt}`);
  }

  const scope = typeof params.scope === 'string' ? params.scope : '';
  return ok({
    subjectToken,
    subjectTokenType,
    ...(actorToken !== undefined && actorTokenType !== undefined ? { actorToken, actorTokenType } : {}),
    targets: [...new Set([...list(params.resource), ...list(params.audience)])],
    scopes: scope.split(' ').filter(Boolean),
    requestedTokenType,
    ...(typeof params.authorization_details === 'string' ? { authorizationDetails: params.authorization_details } : {}),
  });
}

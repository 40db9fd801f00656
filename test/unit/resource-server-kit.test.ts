import { describe, expect, it } from '@jest/globals';
import type { JWTPayload } from 'jose';

import { toAgentToken, type AgentToken } from '../../src/resource-server/agent-token.js';
import { refusal } from '../../src/resource-server/authorize.js';
import { Discovery, metadataUrl } from '../../src/resource-server/discovery.js';
import { AgentTokenError, ERRORS } from '../../src/resource-server/errors.js';
import { ExpiringCache } from '../../src/resource-server/expiring-cache.js';
import { Introspector } from '../../src/resource-server/introspection.js';
import {
  createAgentTokenVerifier,
  DEFAULT_DPOP_ALGORITHMS,
  protectedResourceMetadata,
  protectedResourceMetadataPath,
  serveProtectedResourceMetadata,
  type AgentTokenVerifierOptions,
  type KoaLikeContext,
} from '../../src/resource-server/index.js';
import { checkRequirements } from '../../src/resource-server/requirements.js';

/**
 * The resource-server kit's pure parts, without a network: the cache, the claim reader, the
 * requirement checks, option validation, challenge rendering and RFC 9728 metadata. Discovery and
 * introspection run against fetch stubs. (test/integration/resource-server-verifier.test.ts runs
 * the kit against a real Mandate.)
 */

const ISSUER = 'https://mandate.example';
const API = 'https://api.travel.example';
const NOW_S = 1_800_000_000;
const NOW = NOW_S * 1000;

/** The code of the AgentTokenError `fn` throws (and that it throws one). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentTokenError);
    return (err as AgentTokenError).code;
  }
  throw new Error('expected an AgentTokenError');
}

function errorOf(fn: () => unknown): AgentTokenError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentTokenError);
    return err as AgentTokenError;
  }
  throw new Error('expected an AgentTokenError');
}

const CLAIMS: JWTPayload = {
  iss: ISSUER, sub: 'alice', aud: API, client_id: 'agent-b', scope: 'trips:read trips:book',
  iat: NOW_S - 10, exp: NOW_S + 290, jti: 'tok-1', act: { sub: 'agent-b', act: { sub: 'agent-a', iss: ISSUER } },
};
const tokenOf = (claims: Record<string, unknown> = {}): AgentToken => toAgentToken({ ...CLAIMS, ...claims }, ISSUER);

describe('ExpiringCache', () => {
  it('refuses a size that is not a positive integer', () => {
    for (const size of [0, -1, 1.5, Number.NaN]) expect(() => new ExpiringCache(size)).toThrow(TypeError);
    expect(new ExpiringCache(1).size).toBe(0);
  });

  it('setting a key with an expiry already past removes its older value', () => {
    const cache = new ExpiringCache<string>(10);
    cache.set('a', 'A', NOW + 1000, NOW);
    cache.set('a', 'B', NOW - 1, NOW);
    expect(cache.get('a', NOW)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a value until its expiry, then drops it on read', () => {
    const cache = new ExpiringCache<string>(10);
    cache.set('a', 'A', NOW + 1000, NOW);
    expect(cache.get('a', NOW + 999)).toBe('A');
    expect(cache.size).toBe(1);
    expect(cache.get('a', NOW + 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.get('missing', NOW)).toBeUndefined();
  });

  it('stores nothing whose expiry has already passed', () => {
    const cache = new ExpiringCache<string>(10);
    cache.set('past', 'P', NOW - 1, NOW);
    cache.set('now', 'N', NOW, NOW);
    expect(cache.size).toBe(0);
  });

  it('set replaces the value and its expiry', () => {
    const cache = new ExpiringCache<string>(10);
    cache.set('a', 'A', NOW + 1000, NOW);
    cache.set('a', 'B', NOW + 5000, NOW);
    expect(cache.size).toBe(1);
    expect(cache.get('a', NOW + 2000)).toBe('B');
  });

  it('is bounded: the least recently used entry leaves first, and a read counts as a use', () => {
    const cache = new ExpiringCache<number>(3);
    for (const [i, key] of ['a', 'b', 'c'].entries()) cache.set(key, i, NOW + 60_000, NOW);
    expect(cache.get('a', NOW)).toBe(0);
    cache.set('d', 3, NOW + 60_000, NOW);
    expect(cache.size).toBe(3);
    expect(cache.get('b', NOW)).toBeUndefined();
    expect([cache.get('a', NOW), cache.get('c', NOW), cache.get('d', NOW)]).toEqual([0, 2, 3]);
    // Re-setting a present key never evicts another.
    cache.set('a', 9, NOW + 60_000, NOW);
    expect(cache.size).toBe(3);
    expect(cache.get('c', NOW)).toBe(2);
  });

  it('when full, expired entries go before live ones', () => {
    const cache = new ExpiringCache<string>(3);
    cache.set('live-old', 'L', NOW + 60_000, NOW);
    cache.set('short-1', 'S', NOW + 1000, NOW);
    cache.set('short-2', 'S', NOW + 1000, NOW);
    cache.set('new', 'N', NOW + 60_000, NOW + 2000);
    expect(cache.size).toBe(2);
    expect(cache.get('live-old', NOW + 2000)).toBe('L');
    expect(cache.get('new', NOW + 2000)).toBe('N');
  });

  it('add: true when added; false while the key is present and unexpired (the value is kept); true again after expiry', () => {
    const cache = new ExpiringCache<string>(10);
    expect(cache.add('jti', 'first', NOW + 1000, NOW)).toBe(true);
    expect(cache.add('jti', 'second', NOW + 9000, NOW + 500)).toBe(false);
    expect(cache.get('jti', NOW + 500)).toBe('first');
    expect(cache.get('jti', NOW + 1500)).toBeUndefined();
    expect(cache.add('jti', 'third', NOW + 3000, NOW + 1500)).toBe(true);
    expect(cache.get('jti', NOW + 1500)).toBe('third');
  });
});

describe('toAgentToken', () => {
  it('is frozen all the way down: a handler cannot change what the cache hands to the next request', () => {
    const token = toAgentToken({ ...CLAIMS, authorization_details: [{ type: 'trip_booking', price: { amount: '1' } }] }, ISSUER);
    expect(() => { (token.scopes as string[]).push('admin'); }).toThrow(TypeError);
    expect(() => { (token.task[0] as unknown as { price: { amount: string } }).price.amount = '0'; }).toThrow(TypeError);
    expect(() => { (token.claims as Record<string, unknown>).scope = 'admin'; }).toThrow(TypeError);
    expect(() => { (token.subject as { id: string }).id = 'mallory'; }).toThrow(TypeError);
  });

  it('reads the claims into the typed result', () => {
    const claims = { ...CLAIMS, authorization_details: [{ type: 'trip_booking', destination: 'Lisbon' }], cnf: { jkt: 'thumb' },
      acr: 'phr', amr: ['hwk'], auth_time: NOW_S - 60, approval_id: 'apr_1' };
    expect(toAgentToken(claims, ISSUER)).toEqual({
      subject: { id: 'alice', issuer: ISSUER },
      agent: 'agent-b',
      actorChain: [{ sub: 'agent-b' }, { sub: 'agent-a', iss: ISSUER }],
      scopes: ['trips:read', 'trips:book'],
      audience: API,
      task: [{ type: 'trip_booking', destination: 'Lisbon' }],
      approval: { id: 'apr_1', acr: 'phr', amr: ['hwk'], authTime: NOW_S - 60 },
      jti: 'tok-1', issuedAt: NOW_S - 10, expiresAt: NOW_S + 290,
      dpopJkt: 'thumb',
      claims,
    });
  });

  it('defaults: no act, scope, task, approval or cnf; sub_iss names the subject\'s issuer; a one-value aud array', () => {
    const token = toAgentToken({ iss: ISSUER, sub: 'svc-1', sub_iss: 'https://idp.example', aud: [API], client_id: 'agent-a', iat: NOW_S, exp: NOW_S + 60, jti: 'j' }, ISSUER);
    expect(token).toMatchObject({ subject: { id: 'svc-1', issuer: 'https://idp.example' }, actorChain: [], scopes: [], task: [], audience: API });
    expect(token).not.toHaveProperty('approval');
    expect(token).not.toHaveProperty('dpopJkt');
    // acr without approval_id is no approval.
    expect(tokenOf({ acr: 'phr' })).not.toHaveProperty('approval');
    expect(tokenOf({ approval_id: 'apr_2' }).approval).toEqual({ id: 'apr_2' });
  });

  const deep = (n: number): Record<string, unknown> => (n === 0 ? { sub: 'agent-0' } : { sub: `agent-${n}`, act: deep(n - 1) });

  it.each<[string, Record<string, unknown>, string]>([
    ['sub missing', { sub: undefined }, 'the token\'s sub claim must be a string'],
    ['sub empty', { sub: '' }, 'the token\'s sub claim must be a string'],
    ['client_id a number', { client_id: 7 }, 'the token\'s client_id claim must be a string'],
    ['jti missing', { jti: undefined }, 'the token\'s jti claim must be a string'],
    ['iat a string', { iat: '1' }, 'the token\'s iat claim must be a number'],
    ['exp missing', { exp: undefined }, 'the token\'s exp claim must be a number'],
    ['scope an array', { scope: ['trips:read'] }, 'the token\'s scope claim must be a space-separated string'],
    ['sub_iss empty', { sub_iss: '' }, 'the token\'s sub_iss claim must be a string'],
    ['act a string', { act: 'agent-a' }, 'the token\'s act claim must be nested objects with a sub'],
    ['act nested without sub', { act: { sub: 'agent-b', act: {} } }, 'the token\'s act claim must be nested objects with a sub'],
    ['act iss not a string', { act: { sub: 'agent-b', iss: 1 } }, 'the token\'s act claim must be nested objects whose iss is a string'],
    ['act 17 deep', { act: deep(16) }, 'the token\'s act claim must be at most 16 deep'],
    ['authorization_details an object', { authorization_details: { type: 'x' } }, 'the token\'s authorization_details claim must be an array of objects with a type'],
    ['authorization_details without type', { authorization_details: [{ destination: 'Lisbon' }] }, 'the token\'s authorization_details claim must be an array of objects with a type'],
    ['approval_id a number', { approval_id: 1 }, 'the token\'s approval_id claim must be a string'],
    ['acr a number', { approval_id: 'apr', acr: 1 }, 'the token\'s acr claim must be a string'],
    ['amr a string', { approval_id: 'apr', amr: 'hwk' }, 'the token\'s amr claim must be an array of strings'],
    ['auth_time a string', { approval_id: 'apr', auth_time: 'yesterday' }, 'the token\'s auth_time claim must be a number'],
    ['cnf without jkt', { cnf: { jwk: {} } }, 'the token\'s cnf claim must be an object with a jkt'],
    ['cnf null', { cnf: null }, 'the token\'s cnf claim must be an object with a jkt'],
  ])('%s: claims_invalid', (_name, claims, description) => {
    const error = errorOf(() => tokenOf(claims));
    expect({ code: error.code, error: error.error, status: error.status, message: error.message })
      .toEqual({ code: 'claims_invalid', error: 'invalid_token', status: 401, message: description });
  });

  it('a chain 16 deep is accepted', () => {
    expect(tokenOf({ act: deep(15) }).actorChain).toHaveLength(16);
  });
});

describe('checkRequirements', () => {
  const now = NOW;

  it('no requirements: any valid token passes', () => {
    expect(() => checkRequirements(tokenOf({ scope: undefined }), {}, now)).not.toThrow();
  });

  it('every route scope must be granted; the refusal names all of them (once each), the description the missing ones', () => {
    const token = tokenOf({ scope: 'trips:read' });
    expect(() => checkRequirements(token, { scopes: ['trips:read'] }, now)).not.toThrow();
    const error = errorOf(() => checkRequirements(token, { scopes: ['trips:read', 'trips:book', 'mail:read', 'trips:book'] }, now));
    expect({ code: error.code, status: error.status, message: error.message, details: error.details }).toEqual({
      code: 'scope_insufficient', status: 403, message: 'the token lacks the scope trips:book mail:read',
      details: { scope: ['trips:read', 'trips:book', 'mail:read'] },
    });
  });

  it('scope is checked before step-up', () => {
    expect(codeOf(() => checkRequirements(tokenOf({ scope: '' }), { scopes: ['trips:book'], acr: 'phr' }, now))).toBe('scope_insufficient');
  });

  it('acr: one value or a list; a token without it needs step-up (acr_values in the details)', () => {
    const approved = tokenOf({ acr: 'phr', approval_id: 'apr' });
    expect(() => checkRequirements(approved, { acr: 'phr' }, now)).not.toThrow();
    expect(() => checkRequirements(approved, { acr: ['mfa', 'phr'] }, now)).not.toThrow();
    const error = errorOf(() => checkRequirements(tokenOf(), { acr: ['phr', 'mfa'] }, now));
    expect({ code: error.code, error: error.error, status: error.status, message: error.message, details: error.details }).toEqual({
      code: 'user_authentication_required', error: 'insufficient_user_authentication', status: 401,
      message: 'this request needs a human approval (acr phr or mfa)', details: { acrValues: ['phr', 'mfa'] },
    });
    expect(codeOf(() => checkRequirements(tokenOf({ acr: 'pwd' }), { acr: 'phr' }, now))).toBe('user_authentication_required');
  });

  it('maxAge: auth_time at most that old (the boundary passes); none at all needs step-up', () => {
    const at = (authTime: unknown) => tokenOf({ acr: 'phr', approval_id: 'apr', auth_time: authTime });
    expect(() => checkRequirements(at(NOW_S - 300), { acr: 'phr', maxAge: 300 }, now)).not.toThrow();
    const error = errorOf(() => checkRequirements(at(NOW_S - 301), { acr: 'phr', maxAge: 300 }, now));
    expect({ code: error.code, message: error.message, details: error.details }).toEqual({
      code: 'user_authentication_required', message: 'this request needs a human approval from the last 300 s', details: { acrValues: ['phr'], maxAge: 300 },
    });
    const bare = errorOf(() => checkRequirements(tokenOf(), { maxAge: 60 }, now));
    expect({ code: bare.code, details: bare.details }).toEqual({ code: 'user_authentication_required', details: { maxAge: 60 } });
    expect(() => checkRequirements(at(NOW_S), { maxAge: 0 }, now)).not.toThrow();
  });
});

describe('challenge rendering', () => {
  const parts = { audience: API, dpopAlgorithms: ['ES256', 'EdDSA'], resourceMetadata: undefined };
  /** RFC 7235 section 2.1: scheme, then auth-params `token="quoted"` with no `"` or `\` inside, printable ASCII only. */
  const WELL_FORMED = /^(Bearer|DPoP) [a-z_]+="[\x20\x21\x23-\x5B\x5D-\x7E]*"(, [a-z_]+="[\x20\x21\x23-\x5B\x5D-\x7E]*")*(, DPoP [a-z_]+="[\x20\x21\x23-\x5B\x5D-\x7E]*"(, [a-z_]+="[\x20\x21\x23-\x5B\x5D-\x7E]*")*)?$/;

  it('a description with quotes, backslashes, line breaks or non-ASCII never breaks the header; the body keeps it whole', () => {
    const description = 'bad "token" \\ here\r\nInjected: yes, café';
    const answer = refusal(parts, new AgentTokenError('claims_invalid', description), 'Bearer');
    expect(answer.headers['www-authenticate']).toBe(`Bearer realm="${API}", error="invalid_token", error_description="bad token  hereInjected: yes, caf"`);
    expect(answer.headers['www-authenticate']).toMatch(WELL_FORMED);
    expect(answer.body).toEqual({ error: 'invalid_token', error_description: description });
    expect(answer.status).toBe(401);
  });

  it('the audience and resource metadata URL are quoted the same way', () => {
    const odd = { audience: 'urn:api:"travel"\\', dpopAlgorithms: ['ES256'], resourceMetadata: 'https://api.example/.well-known/oauth-protected-resource?x="1"' };
    for (const code of ['token_missing', 'scope_insufficient', 'dpop_proof_invalid'] as const) {
      const answer = refusal(odd, new AgentTokenError(code, 'x', { scope: ['trips:read'], dpop: code === 'dpop_proof_invalid' }), 'Bearer');
      expect(answer.headers['www-authenticate']).toMatch(WELL_FORMED);
    }
  });

  it('scheme and parameters follow the error: DPoP errors challenge with DPoP and algs; no credentials offers both', () => {
    expect(refusal(parts, new AgentTokenError('token_missing', 'none'), 'Bearer').headers['www-authenticate'])
      .toBe(`Bearer realm="${API}", DPoP realm="${API}", algs="ES256 EdDSA"`);
    expect(refusal(parts, new AgentTokenError('dpop_key_mismatch', 'wrong key', { dpop: true }), 'Bearer').headers['www-authenticate'])
      .toBe(`DPoP realm="${API}", error="invalid_dpop_proof", error_description="wrong key", algs="ES256 EdDSA"`);
    expect(refusal(parts, new AgentTokenError('user_authentication_required', 'step up', { acrValues: ['phr'], maxAge: 60 }), 'DPoP').headers['www-authenticate'])
      .toBe(`DPoP realm="${API}", error="insufficient_user_authentication", error_description="step up", acr_values="phr", max_age="60", algs="ES256 EdDSA"`);
  });

  it('503 answers carry Retry-After and no challenge', () => {
    const answer = refusal(parts, new AgentTokenError('authorization_server_unavailable', 'down'), 'Bearer');
    expect(answer).toMatchObject({ status: 503, headers: { 'cache-control': 'no-store', 'retry-after': '5' }, body: { error: 'temporarily_unavailable', error_description: 'down' } });
    expect(answer.headers).not.toHaveProperty('www-authenticate');
  });

  it('every error code maps to an OAuth error and status', () => {
    for (const [code, { error, status }] of Object.entries(ERRORS)) {
      const made = new AgentTokenError(code as keyof typeof ERRORS, 'd');
      expect({ code: made.code, error: made.error, status: made.status, name: made.name }).toEqual({ code, error, status, name: 'AgentTokenError' });
    }
  });
});

describe('protected resource metadata (RFC 9728)', () => {
  it('the metadata path: the well-known segment, then the resource\'s path', () => {
    expect(protectedResourceMetadataPath('https://api.example')).toBe('/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataPath('https://api.example/')).toBe('/.well-known/oauth-protected-resource');
    expect(protectedResourceMetadataPath('https://api.example:8443/v1/mcp')).toBe('/.well-known/oauth-protected-resource/v1/mcp');
  });

  it('fills in the kit\'s defaults and keeps what the caller gave', () => {
    expect(protectedResourceMetadata({ resource: API, authorization_servers: [ISSUER] })).toEqual({
      resource: API, authorization_servers: [ISSUER], bearer_methods_supported: ['header'], dpop_signing_alg_values_supported: DEFAULT_DPOP_ALGORITHMS,
    });
    const own = protectedResourceMetadata({ resource: API, authorization_servers: [ISSUER], scopes_supported: ['trips:read'], dpop_signing_alg_values_supported: ['ES256'] });
    expect(own).toMatchObject({ scopes_supported: ['trips:read'], dpop_signing_alg_values_supported: ['ES256'] });
  });

  it.each([
    ['a fragment', { resource: `${API}#x`, authorization_servers: [ISSUER] }, /resource must be an http\(s\) URL without query or fragment/],
    ['not a URL', { resource: 'travel', authorization_servers: [ISSUER] }, /resource must be/],
    ['not http(s)', { resource: 'urn:travel', authorization_servers: [ISSUER] }, /resource must be/],
    ['no authorization server', { resource: API, authorization_servers: [] }, /authorization_servers must list at least one issuer URL/],
    ['an authorization server that is no URL', { resource: API, authorization_servers: ['mandate'] }, /authorization_servers/],
  ])('refuses %s', (_name, metadata, message) => {
    expect(() => protectedResourceMetadata(metadata)).toThrow(TypeError);
    expect(() => protectedResourceMetadata(metadata)).toThrow(message);
  });

  it('the koa route answers GET and HEAD on its path and passes everything else on', async () => {
    const route = serveProtectedResourceMetadata({ resource: `${API}/v1`, authorization_servers: [ISSUER] });
    const ctx = (method: string, path: string) => {
      const headers: Record<string, string> = {};
      const c = { method, path, status: 404, body: undefined as unknown, headers: {}, protocol: 'https', host: 'api.travel.example', state: {}, set: (k: string, v: string) => { headers[k] = v; } };
      return { c: c as KoaLikeContext & typeof c, headers };
    };
    const hit = ctx('GET', '/.well-known/oauth-protected-resource/v1');
    let passed = 0;
    await route(hit.c, async () => { passed += 1; });
    expect({ status: hit.c.status, body: JSON.parse(hit.c.body as string), type: hit.headers['content-type'], passed })
      .toEqual({ status: 200, body: expect.objectContaining({ resource: `${API}/v1` }), type: 'application/json', passed: 0 });
    for (const [method, path] of [['POST', '/.well-known/oauth-protected-resource/v1'], ['GET', '/.well-known/oauth-protected-resource']]) {
      const miss = ctx(method!, path!);
      await route(miss.c, async () => { passed += 1; });
      expect(miss.c.status).toBe(404);
    }
    expect(passed).toBe(2);
  });
});

describe('createAgentTokenVerifier option validation', () => {
  const base: AgentTokenVerifierOptions = { issuer: ISSUER, audience: API, fetch: () => Promise.reject(new Error('no network in unit tests')) };
  const make = (options: Partial<AgentTokenVerifierOptions> | Record<string, unknown>) => () => createAgentTokenVerifier({ ...base, ...options } as AgentTokenVerifierOptions);

  it('accepts the defaults and does no I/O when built', () => {
    let calls = 0;
    const verifier = createAgentTokenVerifier({ ...base, fetch: () => { calls += 1; return Promise.reject(new Error('no')); } });
    expect({ issuer: verifier.issuer, audience: verifier.audience, dpopAlgorithms: verifier.dpopAlgorithms }).toEqual({ issuer: ISSUER, audience: API, dpopAlgorithms: DEFAULT_DPOP_ALGORITHMS });
    expect(calls).toBe(0);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['HS256', { algorithms: ['HS256'] }, /^createAgentTokenVerifier: algorithms must be asymmetric JWS algorithms .*got \["HS256"\]$/],
    ['none among good ones', { algorithms: ['ES256', 'none'] }, /algorithms must be asymmetric JWS algorithms .*got \["none"\]$/],
    ['an empty algorithm list', { algorithms: [] }, /algorithms must be a non-empty array/],
    ['an issuer that is no URL', { issuer: 'mandate' }, /^createAgentTokenVerifier: issuer must be an http\(s\) URL without query or fragment, got "mandate"$/],
    ['an ftp issuer', { issuer: 'ftp://mandate.example' }, /issuer must be an http\(s\) URL/],
    ['an issuer with a query', { issuer: `${ISSUER}?tenant=1` }, /issuer must be an http\(s\) URL without query or fragment/],
    ['an issuer with a fragment', { issuer: `${ISSUER}#x` }, /issuer must be an http\(s\) URL without query or fragment/],
    ['no issuer', { issuer: undefined }, /issuer must be/],
    ['an empty audience', { audience: '' }, /^createAgentTokenVerifier: audience must be/],
    ['a negative cacheSize', { cacheSize: -1 }, /^createAgentTokenVerifier: cacheSize must be a whole number ≥ 0, got -1$/],
    ['a fractional cacheSize', { cacheSize: 1.5 }, /cacheSize must be a whole number/],
    ['a cacheSize string', { cacheSize: '100' }, /cacheSize must be a whole number/],
    ['a negative clockTolerance', { clockTolerance: -1 }, /^createAgentTokenVerifier: clockTolerance must be a number of seconds ≥ 0/],
    ['an infinite jwksCooldown', { jwksCooldown: Number.POSITIVE_INFINITY }, /jwksCooldown must be a number of seconds/],
    ['a negative dpop.maxAgeSeconds', { dpop: { maxAgeSeconds: -5 } }, /dpop\.maxAgeSeconds must be a number of seconds/],
    ['HS256 for DPoP proofs', { dpop: { algorithms: ['HS256'] } }, /dpop\.algorithms must be asymmetric/],
    ['an empty DPoP algorithm list', { dpop: { algorithms: [] } }, /dpop\.algorithms must be a non-empty array/],
    ['algorithms as a string', { algorithms: 'RS256' as unknown as string[] }, /algorithms must be a non-empty array/],
    ['a required scope with a space', { requiredScopes: ['trips:read trips:book'] }, /requiredScopes must be an array of scope tokens/],
    ['introspection without a secret', { introspection: { clientId: 'travel-api' } }, /introspection needs clientId and clientSecret/],
  ])('refuses %s with a TypeError naming the option', (_name, options, message) => {
    expect(make(options)).toThrow(TypeError);
    expect(make(options)).toThrow(message);
  });

  it('cacheSize 0 turns the cache off and is allowed', () => {
    expect(make({ cacheSize: 0 })).not.toThrow();
  });

  it('a route that cannot work is refused when it is built', () => {
    const verifier = createAgentTokenVerifier(base);
    expect(() => verifier.requireAgentToken({ introspect: true })).toThrow('introspect: true needs the verifier\'s introspection option (clientId, clientSecret)');
    expect(() => verifier.requireAgentToken({ scopes: 'trips:read' as unknown as string[] })).toThrow('scopes must be an array of scope names');
    expect(() => verifier.requireAgentToken({ scopes: [''] })).toThrow(TypeError);
    expect(() => verifier.requireAgentToken({ maxAge: -1 })).toThrow('maxAge must be whole seconds ≥ 0');
    expect(() => verifier.requireAgentToken({ maxAge: 1.5 })).toThrow(TypeError);
    const introspecting = createAgentTokenVerifier({ ...base, introspection: { clientId: 'travel-api', clientSecret: 's' } });
    expect(() => introspecting.requireAgentToken({ introspect: true })).not.toThrow();
  });

  it('verify() refuses an empty or oversized token before any I/O', async () => {
    let calls = 0;
    const verifier = createAgentTokenVerifier({ ...base, fetch: () => { calls += 1; return Promise.reject(new Error('no')); } });
    const empty = await verifier.verify('');
    const huge = await verifier.verify('a'.repeat(16 * 1024 + 1));
    expect([empty.valid ? undefined : empty.error.code, huge.valid ? undefined : huge.error.code]).toEqual(['token_missing', 'token_malformed']);
    expect(calls).toBe(0);
  });
});

describe('discovery (RFC 8414) against a fetch stub', () => {
  const metadata = { issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` };
  const json = (body: unknown, status = 200): Response => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

  it('the metadata URL puts the well-known segment before the issuer\'s path', () => {
    expect(metadataUrl('https://as.example')).toBe('https://as.example/.well-known/oauth-authorization-server');
    expect(metadataUrl('https://as.example/')).toBe('https://as.example/.well-known/oauth-authorization-server');
    expect(metadataUrl('https://as.example/tenant/1')).toBe('https://as.example/.well-known/oauth-authorization-server/tenant/1');
  });

  it('concurrent callers share one request; the answer is kept', async () => {
    const urls: string[] = [];
    const discovery = new Discovery(ISSUER, async (url) => { urls.push(String(url)); return json(metadata); });
    const answers = await Promise.all([discovery.get(), discovery.get(), discovery.get()]);
    expect(answers).toEqual([metadata, metadata, metadata]);
    await discovery.get();
    expect(urls).toEqual([`${ISSUER}/.well-known/oauth-authorization-server`]);
  });

  it.each<[string, () => Promise<Response>, string]>([
    ['a non-200 answer', async () => json({}, 500), `${ISSUER}/.well-known/oauth-authorization-server answered 500`],
    ['another issuer', async () => json({ ...metadata, issuer: 'https://evil.example' }), `${ISSUER}/.well-known/oauth-authorization-server names issuer "https://evil.example", expected ${ISSUER}`],
    ['no jwks_uri', async () => json({ issuer: ISSUER }), `${ISSUER}/.well-known/oauth-authorization-server has no jwks_uri`],
    ['a network error', () => Promise.reject(new TypeError('fetch failed')), `cannot read ${ISSUER}/.well-known/oauth-authorization-server: fetch failed`],
  ])('%s: authorization_server_unavailable, remembered for a few seconds', async (_name, answer, message) => {
    let calls = 0;
    const discovery = new Discovery(ISSUER, () => { calls += 1; return answer(); });
    await expect(discovery.get()).rejects.toMatchObject({ code: 'authorization_server_unavailable', status: 503, message });
    await expect(discovery.get()).rejects.toMatchObject({ code: 'authorization_server_unavailable' });
    expect(calls).toBe(1);
    // After the failure window (5 s) it asks again.
    await expect(discovery.get(Date.now() + 6000)).rejects.toMatchObject({ code: 'authorization_server_unavailable' });
    expect(calls).toBe(2);
  });
  it('a failed hourly refresh keeps serving the last metadata, and is not retried on every request', async () => {
    let up = true;
    let calls = 0;
    const discovery = new Discovery(ISSUER, async () => { calls += 1; return up ? json(metadata) : json({}, 503); });
    const start = Date.now();
    await expect(discovery.get(start)).resolves.toEqual(metadata);
    up = false;
    const hourLater = start + 60 * 60 * 1000 + 1;
    for (const offset of [0, 1000, 4000]) await expect(discovery.get(hourLater + offset)).resolves.toEqual(metadata);
    expect(calls).toBe(2);
    // Once the failure window is over it asks again, and takes the answer when there is one.
    up = true;
    await expect(discovery.get(hourLater + 6000)).resolves.toEqual(metadata);
    expect(calls).toBe(3);
  });
});

describe('introspection (RFC 7662) against a fetch stub', () => {
  const ENDPOINT = `${ISSUER}/token/introspection`;
  const exp = NOW_S + 300;
  const stub = (answer: () => Response) => {
    const requests: { url: string; init: RequestInit }[] = [];
    const fetch = async (url: string | URL | Request, init?: RequestInit) => { requests.push({ url: String(url), init: init! }); return answer(); };
    return { requests, fetch: fetch as typeof globalThis.fetch };
  };
  const json = (body: unknown, status = 200) => () => new Response(JSON.stringify(body), { status });

  it('authenticates with client_secret_basic, form-encoding id and secret first (RFC 6749 section 2.3.1)', async () => {
    const { requests, fetch } = stub(json({ active: true }));
    const introspector = new Introspector({ clientId: 'travel api', clientSecret: 'p:ss%w rd' }, fetch, new ExpiringCache(10));
    await introspector.assertActive(ENDPOINT, 'the-token', 'hash', exp, NOW);
    expect(requests).toHaveLength(1);
    const { url, init } = requests[0]!;
    expect(url).toBe(ENDPOINT);
    expect(init.method).toBe('POST');
    expect((init.headers as Record<string, string>).authorization).toBe(`Basic ${Buffer.from('travel+api:p%3Ass%25w+rd').toString('base64')}`);
    expect(Object.fromEntries(new URLSearchParams(init.body as string))).toEqual({ token: 'the-token', token_type_hint: 'access_token' });
  });

  it('active is reused for cacheSeconds; inactive is token_revoked and kept until the token\'s exp', async () => {
    let active = true;
    const { requests, fetch } = stub(() => new Response(JSON.stringify({ active })));
    const introspector = new Introspector({ clientId: 'c', clientSecret: 's', cacheSeconds: 5 }, fetch, new ExpiringCache(10));
    await introspector.assertActive(ENDPOINT, 't', 'h', exp, NOW);
    await introspector.assertActive(ENDPOINT, 't', 'h', exp, NOW + 4999);
    expect(requests).toHaveLength(1);
    active = false;
    await expect(introspector.assertActive(ENDPOINT, 't', 'h', exp, NOW + 5000)).rejects.toMatchObject({ code: 'token_revoked', status: 401 });
    await expect(introspector.assertActive(ENDPOINT, 't', 'h', exp, NOW + 200_000)).rejects.toMatchObject({ code: 'token_revoked' });
    expect(requests).toHaveLength(2);
  });

  it.each<[string, () => Response, string]>([
    ['401', json({ error: 'invalid_client' }, 401), 'introspection_refused'],
    ['400', json({ error: 'invalid_request' }, 400), 'introspection_refused'],
    ['500', json({}, 500), 'authorization_server_unavailable'],
    ['an answer without a boolean active', json({ active: 'yes' }), 'authorization_server_unavailable'],
    ['an answer that is not JSON', () => new Response('<html>'), 'authorization_server_unavailable'],
  ])('%s fails closed: %s', async (_name, answer, code) => {
    const introspector = new Introspector({ clientId: 'c', clientSecret: 's' }, stub(answer).fetch, new ExpiringCache(10));
    await expect(introspector.assertActive(ENDPOINT, 't', 'h', exp, NOW)).rejects.toMatchObject({ code, status: 503 });
  });

  it('no introspection_endpoint in the metadata fails closed', async () => {
    const introspector = new Introspector({ clientId: 'c', clientSecret: 's' }, stub(json({ active: true })).fetch, new ExpiringCache(10));
    await expect(introspector.assertActive(undefined, 't', 'h', exp, NOW)).rejects.toMatchObject({ code: 'authorization_server_unavailable' });
  });
});

import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, calculateJwkThumbprint, decodeProtectedHeader, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import Koa from 'koa';
import request from 'supertest';

import { rotateKeys } from '../../src/keys/keystore.js';
import {
  createAgentTokenVerifier,
  type AgentTokenErrorCode,
  type AgentTokenVerifier,
  type AgentTokenVerifierOptions,
  type RouteRequirements,
} from '../../src/resource-server/index.js';
import { signJws } from '../../src/tokens/sign.js';
import { secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';
import { dpopProof, type DpopKey } from '../support/dpop.js';
import { claimsOf, exchange, exchangePolicy, makeIdp, MAIL, TRAVEL, type TestIdp } from '../support/exchange.js';

/**
 * The resource-server kit (`mandate/resource-server`) against a real Mandate over loopback HTTP:
 * a tiny koa API guarded by `verifier.requireAgentToken(...)`, called with supertest. Every
 * refusal is checked four ways: the status, the JSON body, the exact WWW-Authenticate challenge
 * (RFC 6750 / 9449 / 9470), and the kit's stable error code (from `authorize()` on the same request).
 */

const MANDATE_AUD = 'https://mandate.example';
const REALM = `realm="${TRAVEL}"`;
/** The DPoP proof algorithms the kit accepts by default, as challenges announce them. */
const ALGS = 'algs="ES256 ES384 EdDSA Ed25519 RS256 PS256"';
const ALL_ALGORITHMS = 'ES256, ES384, ES512, EdDSA, Ed25519, RS256, RS384, RS512, PS256, PS384, PS512';

/** The API's routes and what each asks of a token. */
const ROUTES: Record<string, RouteRequirements> = {
  '/open': {},
  '/trips': { scopes: ['trips:read'] },
  '/book': { scopes: ['trips:read', 'trips:book'] },
  '/approved': { acr: 'phr' },
  '/recent': { acr: 'phr', maxAge: 300 },
};
const INTROSPECTED: Record<string, RouteRequirements> = { ...ROUTES, '/live': { scopes: ['trips:read'], introspect: true } };

type RequestHeaders = Record<string, string>;

/** A fetch that records every URL the kit asks for (discovery, JWKS, introspection). */
interface CountingFetch {
  fetch: typeof globalThis.fetch;
  count(url?: string): number;
}

function countingFetch(): CountingFetch {
  const urls: string[] = [];
  return {
    fetch: (input, init) => {
      urls.push(input instanceof Request ? input.url : String(input));
      return globalThis.fetch(input, init);
    },
    count: (url) => (url === undefined ? urls.length : urls.filter((u) => u === url).length),
  };
}

/** A koa API on 127.0.0.1:<port>: each route is the kit's middleware, then a handler echoing the token. */
interface ResourceServer {
  verifier: AgentTokenVerifier;
  url: string;
  fetches: CountingFetch;
  get(path: string, headers?: RequestHeaders): request.Test;
  close(): Promise<void>;
}

async function startResourceServer(options: Partial<AgentTokenVerifierOptions> & { issuer: string }, routes = ROUTES): Promise<ResourceServer> {
  const fetches = countingFetch();
  const verifier = createAgentTokenVerifier({ audience: TRAVEL, fetch: fetches.fetch, ...options });
  const guards = new Map(Object.entries(routes).map(([path, requirements]) => [path, verifier.requireAgentToken(requirements)]));
  const app = new Koa();
  app.use(async (ctx) => {
    const guard = guards.get(ctx.path);
    if (!guard) {
      ctx.status = 404;
      return;
    }
    await guard(ctx, async () => {
      ctx.body = { token: ctx.state.agentToken };
    });
  });
  const server = await listen(createServer(app.callback()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    verifier, url, fetches,
    get(path, headers = {}) {
      return request(url).get(path).set(headers);
    },
    close: () => closeServer(server),
  };
}

async function listen(server: Server, port = 0): Promise<Server> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

interface Refusal {
  status: number;
  code: AgentTokenErrorCode;
  error: string;
  description: string;
  /** The exact WWW-Authenticate header; undefined for 503 answers, which carry Retry-After instead. */
  challenge: string | undefined;
}

/**
 * Sends the request to the koa API and checks the answer, then asks `authorize()` the same
 * question for the error code (and that both say the same thing). A refused DPoP proof is
 * refused again: a proof failing any check but the replay check never uses up its jti.
 */
async function expectRefused(rs: ResourceServer, path: string, headers: RequestHeaders, expected: Refusal, routes = ROUTES): Promise<void> {
  const res = await rs.get(path, headers);
  expect({ status: res.status, body: res.body, challenge: res.headers['www-authenticate'] }).toEqual({
    status: expected.status, body: { error: expected.error, error_description: expected.description }, challenge: expected.challenge,
  });
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['retry-after']).toBe(expected.status === 503 ? '5' : undefined);

  const result = await rs.verifier.authorize({ method: 'GET', url: `${rs.url}${path}`, headers }, routes[path]);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect({ code: result.error.code, status: result.status, body: result.body, challenge: result.headers['www-authenticate'] })
    .toEqual({ code: expected.code, status: res.status, body: res.body, challenge: res.headers['www-authenticate'] });
}

const bearer = (error: string, description: string, extra = ''): string => `Bearer ${REALM}, error="${error}", error_description="${description}"${extra}`;
const dpopChallenge = (error: string, description: string): string => `DPoP ${REALM}, error="${error}", error_description="${description}", ${ALGS}`;

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url');

/** An agent token as Mandate would mint it, signed with Mandate's current signing key; claims and header overridable. */
function mandateSigned(t: TestApp, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  const { kid, alg, key } = t.keys.signingKey();
  const now = nowSeconds();
  const payload = { iss: t.issuer, sub: 'alice', aud: TRAVEL, client_id: 'agent-a', scope: 'trips:read', act: { sub: 'agent-a' }, iat: now, exp: now + 300, jti: randomUUID(), ...claims };
  return signJws({ typ: 'at+jwt', kid, ...header }, payload, alg, key);
}

/** A DPoP proof for a request to the resource server, bound to `token` (RFC 9449 section 4.2). */
async function rsProof(key: DpopKey, url: string, token: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ htm: 'GET', htu: url, jti: randomUUID(), iat: nowSeconds(), ath: sha256(token), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.privateKey);
}

/** A loopback HTTP server answering from a table of JSON documents; records the paths asked for. */
async function jsonServer(documents: (base: string) => Record<string, unknown>, port = 0): Promise<{ server: Server; base: string; paths: string[] }> {
  const paths: string[] = [];
  let table: Record<string, unknown> = {};
  const server = createServer((req: IncomingMessage, res) => {
    paths.push(req.url ?? '');
    const document = table[req.url ?? ''];
    res.writeHead(document === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(document ?? { error: 'not_found' }));
  });
  await listen(server, port);
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  table = documents(base);
  return { server, base, paths };
}

describe('resource-server kit against a real Mandate (memory store)', () => {
  let t: TestApp;
  let idp: TestIdp;
  let rs: ResourceServer;
  const others: ResourceServer[] = [];

  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: 'memory', policy: exchangePolicy(idp, MANDATE_AUD) });
    rs = await startResourceServer({ issuer: t.issuer });
  });
  afterAll(async () => {
    await Promise.all([rs, ...others].map((server) => server.close()));
    await t.close();
  });

  /** A second API on the same Mandate with other verifier options. */
  const another = async (options: Partial<AgentTokenVerifierOptions> = {}, routes = ROUTES): Promise<ResourceServer> => {
    const server = await startResourceServer({ issuer: t.issuer, ...options }, routes);
    others.push(server);
    return server;
  };

  /** A real agent token from Mandate: agent-a exchanges Alice's IdP token (tier 3: no approval). */
  const exchanged = async (params: Record<string, string> = {}): Promise<string> => {
    const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read', ...params }).expect(200);
    return res.body.access_token as string;
  };

  describe('credentials missing or malformed', () => {
    it('no token: 401 with a challenge without an error code, offering Bearer and DPoP', async () => {
      await expectRefused(rs, '/trips', {}, {
        status: 401, code: 'token_missing', error: 'invalid_token',
        description: 'send an access token in the Authorization header (Bearer or DPoP scheme)',
        challenge: `Bearer ${REALM}, DPoP ${REALM}, ${ALGS}`,
      });
      // Another scheme is no credential the kit understands: the same answer.
      await expectRefused(rs, '/trips', { authorization: 'Basic YWdlbnQtYTpzZWNyZXQ=' }, {
        status: 401, code: 'token_missing', error: 'invalid_token',
        description: 'send an access token in the Authorization header (Bearer or DPoP scheme)',
        challenge: `Bearer ${REALM}, DPoP ${REALM}, ${ALGS}`,
      });
      // A DPoP proof without an Authorization header is no credential either: both schemes are offered.
      await expectRefused(rs, '/trips', { dpop: 'eyJhbGciOiJFUzI1NiJ9.e30.sig' }, {
        status: 401, code: 'token_missing', error: 'invalid_token',
        description: 'send an access token in the Authorization header (Bearer or DPoP scheme)',
        challenge: `Bearer ${REALM}, DPoP ${REALM}, ${ALGS}`,
      });
    });

    it('a malformed Authorization header: 400 invalid_request (the description loses its quotes in the header)', async () => {
      const token = await exchanged();
      const description = 'the Authorization header must be "<scheme> <token>" with one token';
      const challenge = bearer('invalid_request', 'the Authorization header must be <scheme> <token> with one token');
      for (const authorization of [`Bearer ${token} ${token}`, 'Bearer', 'Bearer not,a,token']) {
        await expectRefused(rs, '/trips', { authorization }, { status: 400, code: 'request_malformed', error: 'invalid_request', description, challenge });
      }
      // The same token, well formed, is accepted.
      await rs.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
    });
  });

  describe('the token itself', () => {
    it('a token signed with Mandate\'s key and nothing changed is accepted (the control for the cases below)', async () => {
      const res = await rs.get('/trips', { authorization: `Bearer ${mandateSigned(t)}` }).expect(200);
      expect(res.body.token).toMatchObject({ subject: { id: 'alice', issuer: t.issuer }, agent: 'agent-a', scopes: ['trips:read'], audience: TRAVEL });
    });

    it('typ JWT instead of at+jwt: type_invalid', async () => {
      await expectRefused(rs, '/trips', { authorization: `Bearer ${mandateSigned(t, {}, { typ: 'JWT' })}` }, {
        status: 401, code: 'type_invalid', error: 'invalid_token', description: 'the token typ must be at+jwt',
        challenge: bearer('invalid_token', 'the token typ must be at+jwt'),
      });
    });

    it('another iss (signed by Mandate\'s key): issuer_mismatch', async () => {
      const description = `the token's issuer is not ${t.issuer}`;
      await expectRefused(rs, '/trips', { authorization: `Bearer ${mandateSigned(t, { iss: 'https://evil.example' })}` }, {
        status: 401, code: 'issuer_mismatch', error: 'invalid_token', description, challenge: bearer('invalid_token', description),
      });
    });

    it('a real token for MAIL presented to TRAVEL, and an aud of two values including TRAVEL: audience_mismatch', async () => {
      const mail = await exchanged({ resource: MAIL, scope: 'mail:read' });
      expect(claimsOf(mail).aud).toBe(MAIL);
      await expectRefused(rs, '/open', { authorization: `Bearer ${mail}` }, {
        status: 401, code: 'audience_mismatch', error: 'invalid_token',
        description: `the token is for "${MAIL}", not ${TRAVEL}`,
        challenge: bearer('invalid_token', `the token is for ${MAIL}, not ${TRAVEL}`),
      });
      const both = mandateSigned(t, { aud: [TRAVEL, MAIL] });
      await expectRefused(rs, '/open', { authorization: `Bearer ${both}` }, {
        status: 401, code: 'audience_mismatch', error: 'invalid_token',
        description: `the token is for ["${TRAVEL}","${MAIL}"], not ${TRAVEL}`,
        challenge: bearer('invalid_token', `the token is for [${TRAVEL},${MAIL}], not ${TRAVEL}`),
      });
      // An array holding only this resource is this resource.
      await rs.get('/open', { authorization: `Bearer ${mandateSigned(t, { aud: [TRAVEL] })}` }).expect(200);
    });

    it('expired beyond the clock tolerance: token_expired; within it: accepted', async () => {
      const now = nowSeconds();
      await expectRefused(rs, '/trips', { authorization: `Bearer ${mandateSigned(t, { iat: now - 600, exp: now - 60 })}` }, {
        status: 401, code: 'token_expired', error: 'invalid_token', description: 'the token has expired',
        challenge: bearer('invalid_token', 'the token has expired'),
      });
      // The default clockTolerance is 5 s: a token that expired a second ago still passes.
      await rs.get('/trips', { authorization: `Bearer ${mandateSigned(t, { iat: now - 600, exp: now - 1 })}` }).expect(200);
    });

    it('nbf in the future: token_not_yet_valid', async () => {
      await expectRefused(rs, '/trips', { authorization: `Bearer ${mandateSigned(t, { nbf: nowSeconds() + 120 })}` }, {
        status: 401, code: 'token_not_yet_valid', error: 'invalid_token', description: 'the token is not valid yet (nbf)',
        challenge: bearer('invalid_token', 'the token is not valid yet (nbf)'),
      });
    });

    it('an algorithm the verifier does not allow: algorithm_not_allowed, decided before any key is fetched', async () => {
      const rsaOnly = await another({ algorithms: ['RS256'] });
      const token = await exchanged();
      expect(decodeProtectedHeader(token).alg).toBe('ES256');
      await expectRefused(rsaOnly, '/trips', { authorization: `Bearer ${token}` }, {
        status: 401, code: 'algorithm_not_allowed', error: 'invalid_token', description: 'the token alg must be one of RS256',
        challenge: bearer('invalid_token', 'the token alg must be one of RS256'),
      });
      // Discovery only: the JWKS was never needed.
      expect(rsaOnly.fetches.count(`${t.issuer}/jwks`)).toBe(0);
      expect(rsaOnly.fetches.count(`${t.issuer}/.well-known/oauth-authorization-server`)).toBe(1);
    });

    it('HS256 (algorithm confusion with the public key as the secret) and alg none: algorithm_not_allowed', async () => {
      const publicJwk = t.keys.publicJwks().keys[0]!;
      const claims = claimsOf(mandateSigned(t));
      const hs256 = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: publicJwk.kid! })
        .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
      const unsecured = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
      const description = `the token alg must be one of ${ALL_ALGORITHMS}`;
      for (const token of [hs256, unsecured]) {
        await expectRefused(rs, '/trips', { authorization: `Bearer ${token}` }, {
          status: 401, code: 'algorithm_not_allowed', error: 'invalid_token', description, challenge: bearer('invalid_token', description),
        });
      }
    });

    it('a tampered token: a widened scope under the old signature, or a corrupted signature: signature_invalid', async () => {
      const token = await exchanged();
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const widened = Buffer.from(JSON.stringify({ ...claimsOf(token), scope: 'trips:read trips:book' })).toString('base64url');
      const bytes = Buffer.from(signature, 'base64url');
      bytes[10] ^= 0xff;
      for (const tampered of [`${header}.${widened}.${signature}`, `${header}.${payload}.${bytes.toString('base64url')}`]) {
        await expectRefused(rs, '/trips', { authorization: `Bearer ${tampered}` }, {
          status: 401, code: 'signature_invalid', error: 'invalid_token', description: 'the token signature is invalid',
          challenge: bearer('invalid_token', 'the token signature is invalid'),
        });
      }
      await rs.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
    });

    it('a signed payload of the wrong shape: claims_invalid', async () => {
      await expectRefused(rs, '/trips', { authorization: `Bearer ${mandateSigned(t, { client_id: undefined })}` }, {
        status: 401, code: 'claims_invalid', error: 'invalid_token', description: 'the token\'s client_id claim must be a string',
        challenge: bearer('invalid_token', 'the token\'s client_id claim must be a string'),
      });
      await expectRefused(rs, '/trips', { authorization: `Bearer ${mandateSigned(t, { act: { act: { sub: 'agent-b' } } })}` }, {
        status: 401, code: 'claims_invalid', error: 'invalid_token', description: 'the token\'s act claim must be nested objects with a sub',
        challenge: bearer('invalid_token', 'the token\'s act claim must be nested objects with a sub'),
      });
    });

    it('resourceMetadata is announced in every challenge (RFC 9728 section 5.1)', async () => {
      const metadata = 'https://api.travel.example/.well-known/oauth-protected-resource';
      const announcing = await another({ resourceMetadata: metadata });
      await expectRefused(announcing, '/trips', {}, {
        status: 401, code: 'token_missing', error: 'invalid_token',
        description: 'send an access token in the Authorization header (Bearer or DPoP scheme)',
        challenge: `Bearer ${REALM}, resource_metadata="${metadata}", DPoP ${REALM}, resource_metadata="${metadata}", ${ALGS}`,
      });
      await expectRefused(announcing, '/trips', { authorization: `Bearer ${mandateSigned(t, { iss: 'https://evil.example' })}` }, {
        status: 401, code: 'issuer_mismatch', error: 'invalid_token', description: `the token's issuer is not ${t.issuer}`,
        challenge: bearer('invalid_token', `the token's issuer is not ${t.issuer}`, `, resource_metadata="${metadata}"`),
      });
    });
  });

  describe('scopes and step-up', () => {
    it('a missing scope: 403 insufficient_scope naming every scope the route needs', async () => {
      const token = await exchanged();
      await expectRefused(rs, '/book', { authorization: `Bearer ${token}` }, {
        status: 403, code: 'scope_insufficient', error: 'insufficient_scope', description: 'the token lacks the scope trips:book',
        challenge: bearer('insufficient_scope', 'the token lacks the scope trips:book', ', scope="trips:read trips:book"'),
      });
      // With the scope (tier 3: no approval needed for trips:book) the route answers.
      const booking = await exchanged({ scope: 'trips:read trips:book' });
      await rs.get('/book', { authorization: `Bearer ${booking}` }).expect(200);
    });

    it('requiredScopes on the verifier apply to every route, before the route\'s own', async () => {
      const strict = await another({ requiredScopes: ['trips:book'] });
      const token = await exchanged();
      await expectRefused(strict, '/open', { authorization: `Bearer ${token}` }, {
        status: 403, code: 'scope_insufficient', error: 'insufficient_scope', description: 'the token lacks the scope trips:book',
        challenge: bearer('insufficient_scope', 'the token lacks the scope trips:book', ', scope="trips:book"'),
      });
      await expectRefused(strict, '/trips', { authorization: `Bearer ${token}` }, {
        status: 403, code: 'scope_insufficient', error: 'insufficient_scope', description: 'the token lacks the scope trips:book',
        challenge: bearer('insufficient_scope', 'the token lacks the scope trips:book', ', scope="trips:book trips:read"'),
      });
      await strict.get('/trips', { authorization: `Bearer ${await exchanged({ scope: 'trips:read trips:book' })}` }).expect(200);
    });

    it('a route needing acr phr, with a token no human approved: 401 insufficient_user_authentication, acr_values="phr"', async () => {
      const token = await exchanged();
      expect(claimsOf(token)).not.toHaveProperty('acr');
      const description = 'this request needs a human approval (acr phr)';
      await expectRefused(rs, '/approved', { authorization: `Bearer ${token}` }, {
        status: 401, code: 'user_authentication_required', error: 'insufficient_user_authentication', description,
        challenge: bearer('insufficient_user_authentication', description, ', acr_values="phr"'),
      });
    });

    it('maxAge with an approval older than it: insufficient_user_authentication with acr_values and max_age', async () => {
      const now = nowSeconds();
      const approved = { acr: 'phr', amr: ['hwk', 'user'], approval_id: 'apr_test', scope: 'trips:read trips:book' };
      const old = mandateSigned(t, { ...approved, auth_time: now - 3600 });
      const description = 'this request needs a human approval from the last 300 s';
      await expectRefused(rs, '/recent', { authorization: `Bearer ${old}` }, {
        status: 401, code: 'user_authentication_required', error: 'insufficient_user_authentication', description,
        challenge: bearer('insufficient_user_authentication', description, ', acr_values="phr", max_age="300"'),
      });
      // The old approval still satisfies a route without maxAge; a recent one satisfies both.
      await rs.get('/approved', { authorization: `Bearer ${old}` }).expect(200);
      const recent = await rs.get('/recent', { authorization: `Bearer ${mandateSigned(t, { ...approved, auth_time: now - 10 })}` }).expect(200);
      expect(recent.body.token.approval).toEqual({ id: 'apr_test', acr: 'phr', amr: ['hwk', 'user'], authTime: now - 10 });
    });
  });

  describe('DPoP (RFC 9449)', () => {
    let key: DpopKey;
    let bound: string;
    let unbound: string;
    const url = (path = '/trips') => `${rs.url}${path}`;

    beforeAll(async () => {
      key = await dpopProof(t.issuer);
      const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }, { DPoP: key.proof }).expect(200);
      expect(res.body.token_type).toBe('DPoP');
      bound = res.body.access_token as string;
      expect(claimsOf(bound).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.jwk) });
      unbound = await exchanged();
    });

    it('a correct proof is accepted and the token carries the key thumbprint', async () => {
      const res = await rs.get('/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, url(), bound) }).expect(200);
      expect(res.body.token.dpopJkt).toBe(await calculateJwkThumbprint(key.jwk));
    });

    it('a bound token sent as Bearer: dpop_scheme_required', async () => {
      const description = 'the token is DPoP-bound: send it with the DPoP scheme and a proof';
      await expectRefused(rs, '/trips', { authorization: `Bearer ${bound}` }, {
        status: 401, code: 'dpop_scheme_required', error: 'invalid_token', description, challenge: dpopChallenge('invalid_token', description),
      });
    });

    it('the DPoP scheme without a proof: dpop_proof_missing', async () => {
      const description = 'the token is DPoP-bound: a DPoP proof header is required';
      await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}` }, {
        status: 401, code: 'dpop_proof_missing', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
      });
    });

    it('a proof signed by another key: dpop_key_mismatch', async () => {
      const stranger = await dpopProof(t.issuer);
      const description = 'the DPoP proof is signed by a key other than the one the token is bound to';
      await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(stranger, url(), bound) }, {
        status: 401, code: 'dpop_key_mismatch', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
      });
    });

    it('the same proof twice: the second is dpop_proof_replayed', async () => {
      const proof = await rsProof(key, url(), bound);
      await rs.get('/trips', { authorization: `DPoP ${bound}`, dpop: proof }).expect(200);
      const description = 'the DPoP proof was already used (jti replay)';
      await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}`, dpop: proof }, {
        status: 401, code: 'dpop_proof_replayed', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
      });
    });

    it('a proof for another URL: dpop_htu_mismatch (the query is ignored)', async () => {
      const description = `the DPoP proof htu must be ${url()}`;
      for (const htu of [url('/book'), `${TRAVEL}/trips`]) {
        await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, htu, bound) }, {
          status: 401, code: 'dpop_htu_mismatch', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
        });
      }
      await rs.get('/trips?page=2', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, `${url()}?page=1`, bound) }).expect(200);
    });

    it('a proof for another method: dpop_htm_mismatch', async () => {
      const description = 'the DPoP proof htm must be GET';
      await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, url(), bound, { htm: 'POST' }) }, {
        status: 401, code: 'dpop_htm_mismatch', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
      });
    });

    it('a proof for another token, or without ath: dpop_ath_mismatch', async () => {
      const description = 'the DPoP proof ath must be the hash of this access token';
      for (const ath of [sha256(unbound), undefined]) {
        await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, url(), bound, { ath }) }, {
          status: 401, code: 'dpop_ath_mismatch', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
        });
      }
    });

    it('a proof older than 60 s (or from the future): dpop_proof_stale', async () => {
      const description = 'the DPoP proof iat must be within 60 s of now';
      for (const iat of [nowSeconds() - 120, nowSeconds() + 120]) {
        await expectRefused(rs, '/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, url(), bound, { iat }) }, {
          status: 401, code: 'dpop_proof_stale', error: 'invalid_dpop_proof', description, challenge: dpopChallenge('invalid_dpop_proof', description),
        });
      }
    });

    it('an unbound token with the DPoP scheme: token_not_bound', async () => {
      const description = 'the token is not DPoP-bound: send it with the Bearer scheme';
      await expectRefused(rs, '/trips', { authorization: `DPoP ${unbound}`, dpop: await rsProof(key, url(), unbound) }, {
        status: 401, code: 'token_not_bound', error: 'invalid_token', description, challenge: dpopChallenge('invalid_token', description),
      });
    });

    it('dpop.required: an unbound Bearer token is dpop_required; a bound token with its proof passes', async () => {
      const strict = await another({ dpop: { required: true } });
      const description = 'this resource accepts DPoP-bound tokens only';
      await expectRefused(strict, '/trips', { authorization: `Bearer ${unbound}` }, {
        status: 401, code: 'dpop_required', error: 'invalid_token', description, challenge: dpopChallenge('invalid_token', description),
      });
      await strict.get('/trips', { authorization: `DPoP ${bound}`, dpop: await rsProof(key, `${strict.url}/trips`, bound) }).expect(200);
    });
  });

  describe('the typed result and the verified-token cache', () => {
    it('a two-hop chain (agent-a → agent-b) with a task reads as subject, agent, actorChain outermost first, scopes, task', async () => {
      const trip = [{ type: 'trip_booking', destination: 'Lisbon', price: { amount: '420.00', currency: 'EUR' } }];
      // trip_booking is a type the Travel API declares: agent-b names the task when it targets it.
      const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
      const hop2 = await exchange(t, 'agent-b', { subject_token: hop1.body.access_token, resource: TRAVEL, authorization_details: JSON.stringify(trip) }).expect(200);
      const token = hop2.body.access_token as string;
      const claims = claimsOf(token);

      const res = await rs.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
      expect(res.body.token).toEqual({
        subject: { id: 'alice', issuer: t.issuer },
        agent: 'agent-b',
        actorChain: [{ sub: 'agent-b' }, { sub: 'agent-a' }],
        scopes: ['trips:read'],
        audience: TRAVEL,
        task: trip,
        jti: claims.jti,
        issuedAt: claims.iat,
        expiresAt: claims.exp,
        claims,
      });
      expect(res.body.token).not.toHaveProperty('approval');
      expect(res.body.token).not.toHaveProperty('dpopJkt');
    });

    it('a subject from another issuer keeps it: subject.issuer is sub_iss', async () => {
      const token = (await exchange(t, 'agent-x', { subject_token: await idp.token({ sub: 'svc-123', may_act: { sub: 'agent-x' } }) }).expect(200)).body.access_token as string;
      const res = await rs.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
      expect(res.body.token.subject).toEqual({ id: 'svc-123', issuer: claimsOf(token).sub_iss });
      expect(res.body.token.subject.issuer).not.toBe(t.issuer);
    });

    it('a second verification of the same token fetches nothing and reuses the result, but checks scopes per call', async () => {
      const cached = await another();
      const token = await exchanged();
      await cached.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
      expect(cached.fetches.count()).toBe(2);
      expect(cached.fetches.count(`${t.issuer}/.well-known/oauth-authorization-server`)).toBe(1);
      expect(cached.fetches.count(`${t.issuer}/jwks`)).toBe(1);

      const first = await cached.verifier.verify(token);
      const second = await cached.verifier.verify(token, { scopes: ['trips:read'] });
      expect(first.valid && second.valid && first.token === second.token).toBe(true);
      const refused = await cached.verifier.verify(token, { scopes: ['trips:book'] });
      expect(refused.valid ? undefined : refused.error.code).toBe('scope_insufficient');
      await cached.get('/book', { authorization: `Bearer ${token}` }).expect(403);
      expect(cached.fetches.count()).toBe(2);

      // cacheSize 0: every verification checks the signature again (a new result each time).
      const uncached = await another({ cacheSize: 0 });
      const a = await uncached.verifier.verify(token);
      const b = await uncached.verifier.verify(token);
      expect(a.valid && b.valid && a.token !== b.token && a.token.jti === b.token.jti).toBe(true);
    });

    it('a cached token is verified again once its exp passes: token_expired', async () => {
      const strictClock = await another({ clockTolerance: 0 });
      const exp = nowSeconds() + 3;
      const token = mandateSigned(t, { exp });
      const before = await strictClock.verifier.verify(token);
      expect(before.valid).toBe(true);
      await sleep(exp * 1000 - Date.now() + 200);
      const after = await strictClock.verifier.verify(token);
      expect(after.valid ? undefined : after.error.code).toBe('token_expired');
      await strictClock.get('/trips', { authorization: `Bearer ${token}` }).expect(401);
    });
  });
});

describe('key rotation and unknown kids (memory store)', () => {
  let t: TestApp;
  let idp: TestIdp;
  const servers: ResourceServer[] = [];
  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: 'memory', policy: exchangePolicy(idp, MANDATE_AUD) });
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    await t.close();
  });

  const start = async (options: Partial<AgentTokenVerifierOptions> = {}): Promise<ResourceServer> => {
    const server = await startResourceServer({ issuer: t.issuer, ...options });
    servers.push(server);
    return server;
  };
  const exchanged = async (): Promise<string> =>
    (await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200)).body.access_token as string;
  /** A token with Mandate's claims, signed by a key Mandate does not publish, under a kid it never used. */
  const forged = async (): Promise<string> => {
    const { privateKey } = await generateKeyPair('ES256');
    return new SignJWT(claimsOf(await exchanged())).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: `made-up-${randomUUID()}` }).sign(privateKey);
  };
  const keyUnknown: Omit<Refusal, 'challenge'> = {
    status: 401, code: 'key_unknown', error: 'invalid_token', description: 'the token is signed with a key the issuer does not publish (kid unknown)',
  };

  it('after a rotation, a token under the new kid costs exactly one JWKS fetch; the old kid still verifies', async () => {
    // cacheSize 0: every request below checks a signature against the key set, none is answered from the cache.
    const rs = await start({ jwksCooldown: 0, cacheSize: 0 });
    const jwks = `${t.issuer}/jwks`;
    const before = await exchanged();
    await rs.get('/trips', { authorization: `Bearer ${before}` }).expect(200);
    expect(rs.fetches.count(jwks)).toBe(1);

    await rotateKeys(t.keysDir, 'EdDSA', { retentionSeconds: 960 });
    await t.keys.reload();
    const after = await exchanged();
    expect(decodeProtectedHeader(after)).toMatchObject({ alg: 'EdDSA', kid: t.keys.signingKey().kid });
    expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);

    const res = await rs.get('/trips', { authorization: `Bearer ${after}` }).expect(200);
    expect(res.body.token.jti).toBe(claimsOf(after).jti);
    expect(rs.fetches.count(jwks)).toBe(2);
    // Both kids are now known: no further fetch for either.
    await rs.get('/trips', { authorization: `Bearer ${before}` }).expect(200);
    await rs.get('/trips', { authorization: `Bearer ${await exchanged()}` }).expect(200);
    expect(rs.fetches.count(jwks)).toBe(2);
    expect(rs.fetches.count(`${t.issuer}/.well-known/oauth-authorization-server`)).toBe(1);
  });

  it('an unpublished kid: key_unknown with an invalid_token challenge; within the cooldown, no further fetch', async () => {
    const rs = await start();
    const jwks = `${t.issuer}/jwks`;
    await expectRefused(rs, '/trips', { authorization: `Bearer ${await forged()}` }, {
      ...keyUnknown, challenge: bearer('invalid_token', keyUnknown.description),
    });
    // One fetch loaded the key set; the unknown kid did not refetch it so soon after (default cooldown 30 s).
    expect(rs.fetches.count(jwks)).toBe(1);
    for (let i = 0; i < 3; i += 1) {
      await rs.get('/trips', { authorization: `Bearer ${await forged()}` }).expect(401);
    }
    expect(rs.fetches.count(jwks)).toBe(1);
    // A real token still verifies from the keys already held.
    await rs.get('/trips', { authorization: `Bearer ${await exchanged()}` }).expect(200);
    expect(rs.fetches.count(jwks)).toBe(1);
  });

  it('an unpublished kid after the cooldown: exactly one refetch, then none until the cooldown passes again', async () => {
    const rs = await start({ jwksCooldown: 1 });
    const jwks = `${t.issuer}/jwks`;
    await rs.get('/trips', { authorization: `Bearer ${await exchanged()}` }).expect(200);
    expect(rs.fetches.count(jwks)).toBe(1);
    await sleep(1200);
    const first = await rs.verifier.verify(await forged());
    expect(first.valid ? undefined : first.error.code).toBe('key_unknown');
    expect(rs.fetches.count(jwks)).toBe(2);
    const second = await rs.verifier.verify(await forged());
    expect(second.valid ? undefined : second.error.code).toBe('key_unknown');
    expect(rs.fetches.count(jwks)).toBe(2);
  });
});

describe.each(STORE_KINDS)('revocation seen through introspection (%s store)', (kind) => {
  let t: TestApp;
  let idp: TestIdp;
  let rs: ResourceServer;
  let wrongSecret: ResourceServer;
  const introspection = (): string => `${t.issuer}/token/introspection`;

  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: kind, policy: exchangePolicy(idp, MANDATE_AUD) });
    rs = await startResourceServer({ issuer: t.issuer, introspection: { clientId: 'travel-api', clientSecret: secretOf('travel-api'), cacheSeconds: 0 } }, INTROSPECTED);
    wrongSecret = await startResourceServer({ issuer: t.issuer, introspection: { clientId: 'travel-api', clientSecret: 'not-the-secret' } }, INTROSPECTED);
  });
  afterAll(async () => {
    await Promise.all([rs.close(), wrongSecret.close()]);
    await t.close();
  });

  const exchanged = async (): Promise<string> =>
    (await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(200)).body.access_token as string;

  it('a revoked token is refused where the route introspects (token_revoked) and still accepted where it does not', async () => {
    const token = await exchanged();
    await rs.get('/live', { authorization: `Bearer ${token}` }).expect(200);
    expect(rs.fetches.count(introspection())).toBe(1);

    await request(t.server).post('/token/revocation').auth('agent-a', secretOf('agent-a')).type('form').send({ token }).expect(200);

    // cacheSeconds 0: the "active" answer was not kept, so the next request asks again.
    await expectRefused(rs, '/live', { authorization: `Bearer ${token}` }, {
      status: 401, code: 'token_revoked', error: 'invalid_token', description: 'the token is no longer active (revoked)',
      challenge: bearer('invalid_token', 'the token is no longer active (revoked)'),
    }, INTROSPECTED);
    // "Inactive" is kept until the token's exp: the authorize() call in expectRefused asked nothing.
    expect(rs.fetches.count(introspection())).toBe(2);

    // The signature is as good as ever: a route that does not introspect cannot know.
    await rs.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
    expect(rs.fetches.count(introspection())).toBe(2);
  });

  it('wrong introspection credentials: 503 temporarily_unavailable (introspection_refused), no challenge', async () => {
    const token = await exchanged();
    await expectRefused(wrongSecret, '/live', { authorization: `Bearer ${token}` }, {
      status: 503, code: 'introspection_refused', error: 'temporarily_unavailable',
      description: 'the introspection endpoint refused this resource server (401): check introspection.clientId and clientSecret',
      challenge: undefined,
    }, INTROSPECTED);
    // Routes that do not introspect are unaffected.
    await wrongSecret.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
  });
});

describe('an authorization server that is down or names another issuer', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });

  /** A token signed with `key`, for TRAVEL, from `issuer`. */
  const tokenFrom = (issuer: string, key: CryptoKey, kid: string): Promise<string> => {
    const now = nowSeconds();
    return new SignJWT({ iss: issuer, sub: 'alice', aud: TRAVEL, client_id: 'agent-a', scope: 'trips:read', iat: now, exp: now + 300, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(key);
  };

  it('nothing listening at the issuer: 503 authorization_server_unavailable with Retry-After; it fails closed, then recovers', async () => {
    const probe = await listen(createServer());
    const port = (probe.address() as AddressInfo).port;
    await closeServer(probe);
    const issuer = `http://127.0.0.1:${port}`;
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'as-1', alg: 'ES256', use: 'sig' };
    const token = await tokenFrom(issuer, privateKey, 'as-1');

    const rs = await startResourceServer({ issuer });
    closers.push(() => rs.close());
    const wellKnown = `${issuer}/.well-known/oauth-authorization-server`;
    const failedAt = Date.now();
    await expectRefused(rs, '/trips', { authorization: `Bearer ${token}` }, {
      status: 503, code: 'authorization_server_unavailable', error: 'temporarily_unavailable',
      description: `cannot read ${wellKnown}: fetch failed`, challenge: undefined,
    });
    // The failure is remembered: the second ask (authorize() above) did not try again.
    expect(rs.fetches.count(wellKnown)).toBe(1);

    // The authorization server comes up on that port; after the 5 s failure window the kit reads it.
    const as = await jsonServer((base) => ({
      '/.well-known/oauth-authorization-server': { issuer: base, jwks_uri: `${base}/jwks` },
      '/jwks': { keys: [jwk] },
    }), port);
    closers.push(() => closeServer(as.server));
    await sleep(failedAt + 5000 - Date.now() + 300);
    const res = await rs.get('/trips', { authorization: `Bearer ${token}` }).expect(200);
    expect(res.body.token.subject).toEqual({ id: 'alice', issuer });
    expect(as.paths).toEqual(['/.well-known/oauth-authorization-server', '/jwks']);
  });

  it('metadata naming another issuer: 503, and the keys it points at are never fetched', async () => {
    const impostor = await jsonServer((base) => ({
      '/.well-known/oauth-authorization-server': { issuer: 'https://mandate.example', jwks_uri: `${base}/jwks` },
      '/jwks': { keys: [] },
    }));
    closers.push(() => closeServer(impostor.server));
    const { privateKey } = await generateKeyPair('ES256');
    const rs = await startResourceServer({ issuer: impostor.base });
    closers.push(() => rs.close());
    const wellKnown = `${impostor.base}/.well-known/oauth-authorization-server`;
    await expectRefused(rs, '/trips', { authorization: `Bearer ${await tokenFrom(impostor.base, privateKey, 'as-1')}` }, {
      status: 503, code: 'authorization_server_unavailable', error: 'temporarily_unavailable',
      description: `${wellKnown} names issuer "https://mandate.example", expected ${impostor.base}`, challenge: undefined,
    });
    expect(impostor.paths).toEqual(['/.well-known/oauth-authorization-server']);
  });
});

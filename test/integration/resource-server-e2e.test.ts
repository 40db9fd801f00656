import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, calculateJwkThumbprint } from 'jose';
import request from 'supertest';

import { createExampleApi } from '../../src/dev/example-api.js';
import { DEFAULT_DPOP_ALGORITHMS } from '../../src/resource-server/index.js';
import { secretOf, startTestApp, type TestApp } from '../support/app.js';
import { dpopProof, type DpopKey } from '../support/dpop.js';
import { claimsOf, exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';
import { approveWithPasskey, enrollPasskey } from '../support/passkey-approval.js';
import { SoftAuthenticator } from '../support/soft-authenticator.js';
import { buildDist } from '../support/spawn.js';

/**
 * The resource-server kit end to end (SPEC sections 4, 6 and 9): the example Travel API
 * (src/dev/example-api.ts) verifies tokens that the real Mandate issues over loopback, on the
 * Redis store. An agent exchanges a user token, reads trips, is told to get a human approval to
 * book, gets one through CIBA and a passkey, books, and is stopped once its token is revoked.
 */

const CIBA = 'urn:openid:params:grant-type:ciba';
const METADATA_URL = `${TRAVEL}/.well-known/oauth-protected-resource`;
/** The example's introspection cache (seconds): short, so the revocation test waits little. */
const INTROSPECTION_CACHE_SECONDS = 1;

type Body = Record<string, unknown>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A DPoP proof (RFC 9449) for a request to the API: its method and URL, and the token's hash (`ath`). */
async function apiProof(key: DpopKey, method: string, url: string, accessToken: string): Promise<string> {
  const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(accessToken))).toString('base64url');
  return new SignJWT({ htm: method, htu: url, jti: crypto.randomUUID(), ath })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk }).setIssuedAt().sign(key.privateKey);
}

/** The WWW-Authenticate parameters, by name (values are quoted strings, as the kit writes them). */
function challengeParams(header: string | undefined): Record<string, string> {
  return Object.fromEntries([...(header ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

describe('the example Travel API on the resource-server kit (redis store)', () => {
  let t: TestApp;
  let idp: TestIdp;
  let alice: SoftAuthenticator;
  let api: Server;
  let apiUrl: string;

  beforeAll(async () => {
    idp = await makeIdp(() => t.issuer);
    t = await startTestApp({ store: 'redis', policy: (issuer: string) => exchangePolicy(idp, issuer) });
    alice = new SoftAuthenticator({ origin: t.issuer });
    await enrollPasskey(t, 'alice', alice);
    const app = createExampleApi({
      issuer: t.issuer,
      introspection: { clientId: 'travel-api', clientSecret: secretOf('travel-api'), cacheSeconds: INTROSPECTION_CACHE_SECONDS },
    });
    api = createServer(app.callback());
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    api.closeAllConnections();
    await new Promise<void>((resolve) => api.close(() => resolve()));
    await t.close();
  });

  /** Calls the API with a token in the DPoP scheme and a fresh proof for this method and URL; expects `status`. */
  const withDpop = async (method: 'GET' | 'POST', path: string, key: DpopKey, token: string, status: number) => {
    const proof = await apiProof(key, method, `${apiUrl}${path}`, token);
    const req = method === 'GET' ? request(api).get(path) : request(api).post(path);
    return req.set('Authorization', `DPoP ${token}`).set('DPoP', proof).expect(status);
  };

  /** The agent's user token exchanged for both Travel scopes (tier 3: no approval needed), bound to `key` when given. */
  const exchanged = async (key?: DpopKey): Promise<string> => {
    const res = await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read trips:book' }, key ? { DPoP: key.proof } : {}).expect(200);
    expect(res.body).toMatchObject({ token_type: key ? 'DPoP' : 'Bearer', scope: 'trips:read trips:book' });
    return res.body.access_token as string;
  };

  /** CIBA: the agent asks alice, she approves with her passkey, the agent polls (with a proof from `key`). */
  const approvedToken = async (key: DpopKey, task: Body[]): Promise<{ token: string; approvalId: string }> => {
    const asked = await request(t.server).post('/backchannel').auth('agent-a', secretOf('agent-a')).type('form').send(new URLSearchParams({
      login_hint: 'alice', scope: 'trips:read trips:book', resource: TRAVEL, binding_message: 'Lisbon trip-1', authorization_details: JSON.stringify(task),
    }).toString()).expect(200);
    const authReqId = asked.body.auth_req_id as string;
    const approvalId = authReqId.split('.')[0]!;
    await approveWithPasskey(t, approvalId, alice);
    const polled = await request(t.server).post('/token').auth('agent-a', secretOf('agent-a')).type('form')
      .set('DPoP', (await dpopProof(t.issuer, 'POST', key)).proof).send({ grant_type: CIBA, auth_req_id: authReqId }).expect(200);
    expect(polled.body.token_type).toBe('DPoP');
    return { token: polled.body.access_token as string, approvalId };
  };

  const task = [{ type: 'trip_booking', trip_id: 'trip-1', price: { amount: '420.00', currency: 'EUR' } }];

  it('publishes its protected resource metadata (RFC 9728) and answers other routes 404 with JSON', async () => {
    const res = await request(api).get('/.well-known/oauth-protected-resource').expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({
      resource: TRAVEL,
      authorization_servers: [t.issuer],
      scopes_supported: ['trips:read', 'trips:book'],
      resource_name: 'Travel API (example)',
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: DEFAULT_DPOP_ALGORITHMS,
    });
    for (const [method, path] of [['GET', '/nowhere'], ['POST', '/trips'], ['GET', '/bookings']] as const) {
      const missing = await (method === 'GET' ? request(api).get(path) : request(api).post(path)).expect(404);
      expect(missing.body).toEqual({ error: 'not_found', error_description: `no route ${method} ${path}` });
    }
  });

  it('DPoP: reads trips, is told to get a passkey approval to book, gets one through CIBA, books', async () => {
    const key = await dpopProof(t.issuer);
    const token = await exchanged(key);
    expect(claimsOf(token).cnf).toEqual({ jkt: await calculateJwkThumbprint(key.jwk) });

    const trips = await withDpop('GET', '/trips', key, token, 200);
    expect(trips.body).toEqual({
      trips: expect.arrayContaining([expect.objectContaining({ id: 'trip-1' })]),
      subject: { id: 'alice', issuer: t.issuer }, agent: 'agent-a', actorChain: [{ sub: 'agent-a' }],
    });
    // The bound token without its proof (a Bearer downgrade) is refused.
    const downgrade = await request(api).get('/trips').set('Authorization', `Bearer ${token}`).expect(401);
    expect(downgrade.body.error).toBe('invalid_token');

    // trips:book alone is not enough: booking needs a human approval (RFC 9470 step-up).
    const stepUp = await withDpop('POST', '/bookings', key, token, 401);
    expect(stepUp.body).toEqual({ error: 'insufficient_user_authentication', error_description: expect.stringContaining('phr') });
    expect(stepUp.headers['www-authenticate']).toMatch(/^DPoP /);
    expect(challengeParams(stepUp.headers['www-authenticate'])).toMatchObject({
      realm: TRAVEL, error: 'insufficient_user_authentication', acr_values: 'phr', resource_metadata: METADATA_URL, algs: DEFAULT_DPOP_ALGORITHMS.join(' '),
    });

    const approved = await approvedToken(key, task);
    expect(claimsOf(approved.token)).toMatchObject({ acr: 'phr', approval_id: approved.approvalId, cnf: { jkt: await calculateJwkThumbprint(key.jwk) } });
    const booking = await withDpop('POST', '/bookings', key, approved.token, 201);
    expect(booking.body).toEqual({
      id: expect.stringMatching(/^bkg_/), status: 'confirmed', approval_id: approved.approvalId, task,
      subject: { id: 'alice', issuer: t.issuer }, agent: 'agent-a',
    });
    // A proof from another key is refused even with the approved token.
    const stranger = await withDpop('POST', '/bookings', await dpopProof(t.issuer), approved.token, 401);
    expect(stranger.body.error).toBe('invalid_dpop_proof');
  });

  it('revoking the approved token at Mandate stops bookings (introspected) once the cached answer ages out; reading trips (not introspected) goes on', async () => {
    const key = await dpopProof(t.issuer);
    const approved = await approvedToken(key, task);
    await withDpop('POST', '/bookings', key, approved.token, 201);

    await request(t.server).post('/token/revocation').auth('agent-a', secretOf('agent-a')).type('form').send({ token: approved.token }).expect(200);
    const introspected = await request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token: approved.token }).expect(200);
    expect(introspected.body).toEqual({ active: false });
    // The example caches an "active" answer for INTROSPECTION_CACHE_SECONDS: wait that out (and more).
    await sleep(INTROSPECTION_CACHE_SECONDS * 1000 + 1000);

    const refused = await withDpop('POST', '/bookings', key, approved.token, 401);
    expect(refused.body).toEqual({ error: 'invalid_token', error_description: expect.stringContaining('revoked') });
    expect(refused.headers['www-authenticate']).toMatch(/^DPoP /);
    expect(challengeParams(refused.headers['www-authenticate'])).toMatchObject({ realm: TRAVEL, error: 'invalid_token' });
    // GET /trips checks the token locally only: the revoked token still reads until it expires.
    const trips = await withDpop('GET', '/trips', key, approved.token, 200);
    expect(trips.body).toMatchObject({ subject: { id: 'alice', issuer: t.issuer }, agent: 'agent-a' });
  });

  it('Bearer (unbound): reads trips, then booking answers a Bearer step-up challenge', async () => {
    const token = await exchanged();
    expect(claimsOf(token)).not.toHaveProperty('cnf');

    const trips = await request(api).get('/trips').set('Authorization', `Bearer ${token}`).expect(200);
    expect(trips.body).toMatchObject({ subject: { id: 'alice', issuer: t.issuer }, agent: 'agent-a', actorChain: [{ sub: 'agent-a' }] });

    const stepUp = await request(api).post('/bookings').set('Authorization', `Bearer ${token}`).expect(401);
    expect(stepUp.body.error).toBe('insufficient_user_authentication');
    expect(stepUp.headers['www-authenticate']).toMatch(/^Bearer /);
    const params = challengeParams(stepUp.headers['www-authenticate']);
    expect(params).toMatchObject({ realm: TRAVEL, error: 'insufficient_user_authentication', acr_values: 'phr', resource_metadata: METADATA_URL });
    expect(params).not.toHaveProperty('algs');
    // The unbound token with the DPoP scheme is refused: it is not bound to any key.
    const key = await dpopProof(t.issuer);
    const unbound = await withDpop('GET', '/trips', key, token, 401);
    expect(unbound.body.error).toBe('invalid_token');
  });

  describe('run as a process: node dist/src/dev/example-api.js', () => {
    let child: ChildProcess;
    let processUrl: string;
    let stderr = '';
    let exited: Promise<number | null>;

    beforeAll(async () => {
      await buildDist();
      child = spawn(process.execPath, ['dist/src/dev/example-api.js'], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', MANDATE_ISSUER: t.issuer },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      exited = new Promise((resolve) => child.on('exit', resolve));
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      // The process prints the address it listens on (PORT=0: a free port).
      processUrl = await new Promise<string>((resolve, reject) => {
        let stdout = '';
        const timer = setTimeout(() => reject(new Error(`example-api did not start within 20 s; stderr: ${stderr}`)), 20_000);
        child.stdout!.on('data', (d: Buffer) => {
          stdout += d.toString();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
        child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`example-api exited with ${code}; stderr: ${stderr}`)); });
      });
    }, 180_000);
    afterAll(() => { child?.kill('SIGKILL'); });

    it('answers 401 with a Bearer challenge without a token, 200 with one; introspects with the dev secret; stops on SIGTERM', async () => {
      const bare = await fetch(`${processUrl}/trips`);
      expect(bare.status).toBe(401);
      const challenge = bare.headers.get('www-authenticate') ?? '';
      expect(challenge).toMatch(/^Bearer realm="https:\/\/api\.travel\.example"/);
      // No credentials: the challenge has no error code and also offers DPoP (RFC 6750 3.1, RFC 9449 7.1).
      expect(challengeParams(challenge)).not.toHaveProperty('error');
      expect(challenge).toMatch(new RegExp(`, DPoP realm="https://api.travel.example", .*algs="${DEFAULT_DPOP_ALGORITHMS.join(' ')}"$`));
      expect(await bare.json()).toEqual({ error: 'invalid_token', error_description: expect.any(String) });

      const token = await exchanged();
      const trips = await fetch(`${processUrl}/trips`, { headers: { authorization: `Bearer ${token}` } });
      expect(trips.status).toBe(200);
      expect(await trips.json()).toMatchObject({ subject: { id: 'alice', issuer: t.issuer }, agent: 'agent-a' });

      // POST /bookings introspects first (as travel-api with TRAVEL_API_SECRET's default): a wrong
      // secret would be a 503; the right one reaches the approval check.
      const booking = await fetch(`${processUrl}/bookings`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(booking.status).toBe(401);
      expect(await booking.json()).toMatchObject({ error: 'insufficient_user_authentication' });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).toBe('');
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import { secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';

describe.each(STORE_KINDS)('discovery, health and metrics (%s store)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: kind });
  });
  afterAll(() => t.close());

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])('%s lists the endpoints of SPEC section 3 that exist', async (path) => {
    const res = await request(t.server).get(path).expect(200);
    expect(res.body).toMatchObject({
      issuer: t.issuer,
      token_endpoint: `${t.issuer}/token`,
      jwks_uri: `${t.issuer}/jwks`,
      introspection_endpoint: `${t.issuer}/token/introspection`,
      revocation_endpoint: `${t.issuer}/token/revocation`,
      grant_types_supported: expect.arrayContaining(['client_credentials']),
      dpop_signing_alg_values_supported: expect.arrayContaining(['ES256']),
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    });
  });

  it('publishes public keys only', async () => {
    const res = await request(t.server).get('/jwks').expect(200);
    expect(res.body.keys).toHaveLength(1);
    for (const key of res.body.keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
      expect(key).toMatchObject({ kid: t.keys.signingKey().kid, alg: 'ES256', use: 'sig' });
    }
  });

  it('/healthz and /readyz answer when the store is up', async () => {
    await request(t.server).get('/healthz').expect(200).expect({ status: 'ok' });
    await request(t.server).get('/readyz').expect(200).expect({ status: 'ready', store: kind });
  });

  it('/metrics exposes request counts, latency histograms and process metrics', async () => {
    await request(t.server).get('/healthz').expect(200);
    const res = await request(t.server).get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/mandate_http_requests_total\{route="healthz",method="GET",status="200"\} \d+/);
    expect(res.text).toMatch(/mandate_http_request_duration_seconds_bucket\{le="0.005",route="healthz",method="GET"\}/);
    expect(res.text).toContain('process_cpu_user_seconds_total');
  });
});

describe('HTTP hygiene', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: 'memory' });
  });
  afterAll(() => t.close());

  it('refuses bodies over 64 KiB with 413, with or without Content-Length', async () => {
    const big = `grant_type=client_credentials&pad=${'a'.repeat(64 * 1024)}`;
    await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form').send(big)
      .expect(413).expect({ error: 'invalid_request', error_description: 'request body exceeds 64 KiB' });
    const chunked = request(t.server).post('/token').type('form').set('Transfer-Encoding', 'chunked');
    chunked.write('grant_type=client_credentials&pad=');
    for (let i = 0; i < 70; i += 1) chunked.write('a'.repeat(1024));
    const res = await chunked;
    expect(res.status).toBe(413);
  });

  it('accepts a body just under the limit (the limit is not off by a lot)', async () => {
    const body = `grant_type=client_credentials&scope=trips%3Aread&x=${'a'.repeat(50 * 1024)}`;
    const res = await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form').send(body);
    expect(res.status).toBe(200);
  });

  it('sets security headers and no-store on every response', async () => {
    const res = await request(t.server).get('/.well-known/openid-configuration').expect(200);
    expect(res.headers).toMatchObject({
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const token = await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form').send({ grant_type: 'client_credentials' }).expect(200);
    expect(token.headers['cache-control']).toBe('no-store');
  });

  it('returns a well-formed x-request-id as given, and replaces a malformed one', async () => {
    const given = await request(t.server).get('/healthz').set('x-request-id', 'abc-123').expect(200);
    expect(given.headers['x-request-id']).toBe('abc-123');
    const bad = await request(t.server).get('/healthz').set('x-request-id', 'bad id\twith spaces').expect(200);
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(t.logs.some((line) => JSON.parse(line).request_id === 'abc-123')).toBe(true);
  });

  it('never logs tokens, secrets or client assertions', async () => {
    const res = await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
      .send({ grant_type: 'client_credentials' }).expect(200);
    await request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form')
      .send({ token: res.body.access_token }).expect(200);
    await request(t.server).post('/token').type('form')
      .send({ grant_type: 'client_credentials', client_id: 'multi-app', client_secret: secretOf('multi-app'), client_assertion: 'eyJhbGciOi.secret.assertion' });
    const all = t.logs.join('\n');
    expect(t.logs.length).toBeGreaterThan(2);
    expect(all).not.toContain(res.body.access_token);
    expect(all).not.toContain(secretOf('travel-app'));
    expect(all).not.toContain(secretOf('multi-app'));
    expect(all).not.toContain('secret.assertion');
    expect(all).not.toContain(Buffer.from(`travel-app:${secretOf('travel-app')}`).toString('base64'));
  });

  it('answers unknown paths with a bare 404 that still carries the security headers', async () => {
    const res = await request(t.server).get('/nope').expect(404);
    expect(res.text).toBe('Not Found');
    expect(res.headers).toMatchObject({ 'cache-control': 'no-store', 'x-frame-options': 'DENY', 'x-content-type-options': 'nosniff' });
  });
});

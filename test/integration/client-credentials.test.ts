import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import request from 'supertest';

import { secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';

const TRAVEL = 'https://api.travel.example';

describe.each(STORE_KINDS)('client_credentials with JWT access tokens (%s store)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: kind });
  });
  afterAll(() => t.close());

  const token = (body: Record<string, string>, client = 'travel-app') =>
    request(t.server).post('/token').auth(client, secretOf(client)).type('form').send({ grant_type: 'client_credentials', ...body });

  it('issues an RFC 9068 JWT that verifies against the published JWKS as a resource server would', async () => {
    const res = await token({ resource: TRAVEL, scope: 'trips:read' }).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600, scope: 'trips:read' });

    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(res.body.access_token, jwks, {
      issuer: t.issuer, audience: TRAVEL, typ: 'at+jwt', algorithms: ['ES256'],
    });
    expect(protectedHeader.kid).toBe(t.keys.signingKey().kid);
    expect(payload).toMatchObject({ sub: 'travel-app', client_id: 'travel-app', scope: 'trips:read', aud: TRAVEL });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(typeof payload.jti).toBe('string');
  });

  it('stores a record for every token, living as long as the token', async () => {
    const res = await token({ resource: TRAVEL }).expect(200);
    const { payload } = await jwtVerify(res.body.access_token, createRemoteJWKSet(new URL(`${t.issuer}/jwks`)));
    const record = await t.store.get(`mandate:token:{${payload.jti}}`);
    expect(JSON.parse(record!)).toMatchObject({ jti: payload.jti, client_id: 'travel-app', sub: 'travel-app', aud: TRAVEL, scope: 'trips:read trips:book', exp: payload.exp, parent_jti: null });
    const ttl = await t.store.ttl(`mandate:token:{${payload.jti}}`);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it('defaults the resource when the client has exactly one audience, and gives the full scope', async () => {
    const res = await token({}).expect(200);
    expect(res.body.scope).toBe('trips:read trips:book');
  });

  it('client_secret_post works too, and a client with several audiences must name one', async () => {
    await request(t.server).post('/token').type('form')
      .send({ grant_type: 'client_credentials', client_id: 'multi-app', client_secret: secretOf('multi-app') })
      .expect(400)
      .expect({ error: 'invalid_target', error_description: 'resource is required: client multi-app may get tokens for https://api.travel.example, https://api.mail.example' });
    const res = await request(t.server).post('/token').type('form')
      .send({ grant_type: 'client_credentials', client_id: 'multi-app', client_secret: secretOf('multi-app'), resource: 'https://api.mail.example' })
      .expect(200);
    expect(res.body.scope).toBe('mail:read');
  });

  it('refuses an unregistered resource, a resource outside the client, and two resources', async () => {
    await token({ resource: 'https://evil.example' }).expect(400)
      .expect({ error: 'invalid_target', error_description: 'resource https://evil.example is not a registered resource' });
    await token({ resource: 'https://api.mail.example' }).expect(400)
      .expect({ error: 'invalid_target', error_description: 'client travel-app may not get tokens for https://api.mail.example' });
    await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
      .send(`grant_type=client_credentials&resource=${encodeURIComponent(TRAVEL)}&resource=${encodeURIComponent('https://api.mail.example')}`)
      .expect(400)
      .expect({ error: 'invalid_target', error_description: 'only one resource may be requested per token' });
  });

  it('never widens scope: a scope outside client ∩ resource is invalid_scope', async () => {
    await token({ resource: TRAVEL, scope: 'trips:read mail:read' }).expect(400)
      .expect({ error: 'invalid_scope', error_description: 'scope mail:read is not allowed for client travel-app at https://api.travel.example' });
  });

  it('answers unauthorized_client for a client without the grant and invalid_client for a bad secret', async () => {
    await token({}, 'travel-agent').expect(400)
      .expect({ error: 'unauthorized_client', error_description: 'client travel-agent may not use the client_credentials grant' });
    const bad = await request(t.server).post('/token').auth('travel-app', 'wrong').type('form').send({ grant_type: 'client_credentials' }).expect(401);
    expect(bad.body.error).toBe('invalid_client');
    const unknown = await request(t.server).post('/token').auth('nobody', 'x').type('form').send({ grant_type: 'client_credentials' }).expect(401);
    expect(unknown.body.error).toBe('invalid_client');
  });

  it('signs with the kid of the current key (header check)', async () => {
    const res = await token({}).expect(200);
    expect(decodeProtectedHeader(res.body.access_token)).toEqual({ alg: 'ES256', kid: t.keys.signingKey().kid, typ: 'at+jwt' });
  });
});

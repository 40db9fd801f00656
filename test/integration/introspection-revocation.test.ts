import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, generateKeyPair } from 'jose';
import request from 'supertest';

import { secretOf, startTestApp, STORE_KINDS, type TestApp } from '../support/app.js';

const TRAVEL = 'https://api.travel.example';

describe.each(STORE_KINDS)('introspection (RFC 7662) and revocation (RFC 7009) of JWT access tokens (%s store)', (kind) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: kind });
  });
  afterAll(() => t.close());

  const issue = async (): Promise<string> => {
    const res = await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
      .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' }).expect(200);
    return res.body.access_token as string;
  };
  const introspect = (token: string, client = 'travel-api') =>
    request(t.server).post('/token/introspection').auth(client, secretOf(client)).type('form').send({ token });
  const revoke = (token: string, client = 'travel-app') =>
    request(t.server).post('/token/revocation').auth(client, secretOf(client)).type('form').send({ token });

  it('the resource server the token is addressed to sees it active, with its claims', async () => {
    const at = await issue();
    const res = await introspect(at).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toMatchObject({
      active: true, sub: 'travel-app', client_id: 'travel-app', aud: TRAVEL, scope: 'trips:read', iss: t.issuer, token_type: 'Bearer',
    });
    expect(res.body.exp - res.body.iat).toBe(600);
  });

  it('the client it was issued to may introspect it; another resource server may not', async () => {
    const at = await issue();
    expect((await introspect(at, 'travel-app').expect(200)).body.active).toBe(true);
    expect((await introspect(at, 'mail-api').expect(200)).body).toEqual({ active: false });
  });

  it('after revocation, introspection says inactive', async () => {
    const at = await issue();
    await revoke(at).expect(200);
    expect((await introspect(at).expect(200)).body).toEqual({ active: false });
    // Revoking again is harmless (RFC 7009 section 2.2).
    await revoke(at).expect(200);
  });

  it('only the client the token was issued to may revoke it', async () => {
    const at = await issue();
    await revoke(at, 'multi-app').expect(400)
      .expect({ error: 'invalid_request', error_description: 'client multi-app may not revoke a token issued to another client' });
    expect((await introspect(at).expect(200)).body.active).toBe(true);
  });

  it('a forged JWT (right shape, wrong key) is inactive and cannot be revoked', async () => {
    const at = await issue();
    const [, payload] = at.split('.');
    const { privateKey } = await generateKeyPair('ES256');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: t.keys.signingKey().kid }).sign(privateKey);
    expect((await introspect(forged).expect(200)).body).toEqual({ active: false });
    await revoke(forged).expect(200);
    expect((await introspect(at).expect(200)).body.active).toBe(true);
  });

  it('garbage and a bare jti are inactive, a missing token is invalid_request', async () => {
    const at = await issue();
    const jti = JSON.parse(Buffer.from(at.split('.')[1]!, 'base64url').toString()).jti as string;
    expect((await introspect('not-a-token').expect(200)).body).toEqual({ active: false });
    expect((await introspect(jti).expect(200)).body).toEqual({ active: false });
    expect((await introspect(`mjr.${jti}.AAAA`).expect(200)).body).toEqual({ active: false });
    const res = await request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({}).expect(400);
    expect(res.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'token'" });
  });

  it('introspection requires client authentication', async () => {
    const at = await issue();
    await request(t.server).post('/token/introspection').type('form').send({ token: at }).expect(400)
      .expect({ error: 'invalid_request', error_description: 'no client authentication mechanism provided' });
    const wrong = await request(t.server).post('/token/introspection').auth('travel-api', 'wrong').type('form').send({ token: at }).expect(401);
    expect(wrong.body.error).toBe('invalid_client');
  });
});

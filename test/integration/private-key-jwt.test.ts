import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import request from 'supertest';

import { startTestApp, STORE_KINDS, TEST_POLICY, type TestApp } from '../support/app.js';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe.each(STORE_KINDS)('private_key_jwt client authentication (%s store)', (kind) => {
  let t: TestApp;
  let jwksServer: Server;
  let inlineKey: CryptoKey;
  let remoteKey: CryptoKey;

  beforeAll(async () => {
    const inline = await generateKeyPair('ES256');
    const remote = await generateKeyPair('EdDSA');
    inlineKey = inline.privateKey;
    remoteKey = remote.privateKey;
    const remoteJwks = { keys: [{ ...(await exportJWK(remote.publicKey)), kid: 'remote-1', alg: 'EdDSA' }] };
    // The client's JWKS, served on loopback the way a client would publish it.
    jwksServer = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(remoteJwks));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;

    const policy = structuredClone(TEST_POLICY) as typeof TEST_POLICY & { clients: unknown[] };
    policy.clients.push(
      { id: 'key-app', auth: { method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(inline.publicKey)), kid: 'inline-1', alg: 'ES256' }] } }, scopes: ['trips:read'], audiences: ['https://api.travel.example'] },
      { id: 'remote-key-app', auth: { method: 'private_key_jwt', jwks_uri: jwksUri }, scopes: ['trips:read'], audiences: ['https://api.travel.example'] },
    );
    t = await startTestApp({ store: kind, policy });
  });
  afterAll(async () => {
    await t.close();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  const assertion = (clientId: string, key: CryptoKey, alg: string, kid: string, jti: string = crypto.randomUUID()): Promise<string> =>
    new SignJWT({}).setProtectedHeader({ alg, kid }).setIssuer(clientId).setSubject(clientId).setAudience(t.issuer)
      .setJti(jti).setIssuedAt().setExpirationTime('1m').sign(key);

  const token = (clientId: string, clientAssertion: string) => request(t.server).post('/token').type('form').send({
    grant_type: 'client_credentials', client_id: clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion,
  });

  it('accepts an assertion signed with a key from the inline jwks', async () => {
    const res = await token('key-app', await assertion('key-app', inlineKey, 'ES256', 'inline-1')).expect(200);
    expect(res.body.scope).toBe('trips:read');
  });

  it('accepts an assertion signed with a key from the jwks_uri', async () => {
    await token('remote-key-app', await assertion('remote-key-app', remoteKey, 'EdDSA', 'remote-1')).expect(200);
  });

  it('refuses a replayed assertion (same jti) and an assertion signed by another key', async () => {
    const once = await assertion('key-app', inlineKey, 'ES256', 'inline-1', 'fixed-jti');
    await token('key-app', once).expect(200);
    const replay = await token('key-app', once).expect(401);
    expect(replay.body.error).toBe('invalid_client');
    const wrong = await token('key-app', await assertion('key-app', remoteKey, 'EdDSA', 'inline-1')).expect(401);
    expect(wrong.body.error).toBe('invalid_client');
  });
});

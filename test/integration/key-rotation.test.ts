import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import request from 'supertest';

import { rotateKeys } from '../../src/keys/keystore.js';
import { secretOf, startTestApp, type TestApp } from '../support/app.js';

const TRAVEL = 'https://api.travel.example';

describe('key rotation without downtime', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ store: 'redis' });
  });
  afterAll(() => t.close());

  const issue = async (): Promise<string> =>
    (await request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
      .send({ grant_type: 'client_credentials' }).expect(200)).body.access_token as string;

  it('the new key signs, tokens signed by the old key still verify and introspect', async () => {
    const before = await issue();
    const oldKid = decodeProtectedHeader(before).kid;

    await rotateKeys(t.keysDir, 'EdDSA', { retentionSeconds: 960 });
    await t.keys.reload();

    const after = await issue();
    const header = decodeProtectedHeader(after);
    expect(header.kid).not.toBe(oldKid);
    expect(header.alg).toBe('EdDSA');

    // A resource server with a fresh remote JWKS verifies both.
    const jwks = createRemoteJWKSet(new URL(`${t.issuer}/jwks`));
    for (const token of [before, after]) {
      await expect(jwtVerify(token, jwks, { issuer: t.issuer, audience: TRAVEL, typ: 'at+jwt' })).resolves.toBeDefined();
      const res = await request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token }).expect(200);
      expect(res.body.active).toBe(true);
    }
    const published = (await request(t.server).get('/jwks').expect(200)).body.keys.map((k: { kid: string }) => k.kid);
    expect(published).toEqual(expect.arrayContaining([oldKid, header.kid]));
  });
});

import { describe, expect, it } from '@jest/globals';
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, errors, exportJWK, generateKeyPair } from 'jose';

import { verifyJwt } from '../../src/exchange/fast-verify.js';

const ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;
const NOW = 1_800_000_000;

async function fixture(alg: (typeof ALGS)[number], claims: Record<string, unknown> = {}) {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg }] });
  const token = await new SignJWT({ iss: 'https://i', sub: 'u', aud: 'a', iat: NOW, exp: NOW + 600, ...claims })
    .setProtectedHeader({ alg, kid: 'k1' }).sign(privateKey);
  return { token, keys, header: decodeProtectedHeader(token) };
}

const options = { issuer: 'https://i', audience: ['a'], algorithms: [...ALGS], clockTolerance: 60, now: NOW * 1000, requiredClaims: ['exp', 'sub'] };

describe('verifyJwt (node:crypto path)', () => {
  it.each(ALGS)('verifies a jose-signed %s token and returns its claims', async (alg) => {
    const { token, keys, header } = await fixture(alg);
    await expect(verifyJwt(token, header, keys, options)).resolves.toMatchObject({ sub: 'u', aud: 'a' });
  });

  it.each(ALGS)('refuses a %s token whose signature or payload was altered', async (alg) => {
    const { token, keys, header } = await fixture(alg);
    const [h, p, s] = token.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
    await expect(verifyJwt(flipped, header, keys, options)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
    const otherPayload = Buffer.from(JSON.stringify({ iss: 'https://i', sub: 'admin', aud: 'a', exp: NOW + 600 })).toString('base64url');
    await expect(verifyJwt(`${h}.${otherPayload}.${s}`, header, keys, options)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('refuses an algorithm outside the pinned list and a key of another type', async () => {
    const { token, keys, header } = await fixture('ES256');
    await expect(verifyJwt(token, header, keys, { ...options, algorithms: ['RS256'] })).rejects.toBeInstanceOf(errors.JOSEAlgNotAllowed);
    const rsa = await fixture('RS256');
    await expect(verifyJwt(token, { ...header, alg: 'ES256' }, rsa.keys, options)).rejects.toThrow();
  });

  it.each([
    [{ exp: NOW - 61 }, errors.JWTExpired, 'exp'],
    [{ nbf: NOW + 61 }, errors.JWTClaimValidationFailed, 'nbf'],
    [{ iss: 'https://other' }, errors.JWTClaimValidationFailed, 'iss'],
    [{ aud: 'b' }, errors.JWTClaimValidationFailed, 'aud'],
    [{ sub: undefined }, errors.JWTClaimValidationFailed, 'sub'],
    [{ exp: '1800000600' }, errors.JWTClaimValidationFailed, 'exp'],
  ])('refuses claims %o as jose would', async (claims, ErrorClass, claim) => {
    const { token, keys, header } = await fixture('ES256', claims);
    const failure = await verifyJwt(token, header, keys, options).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ErrorClass);
    expect((failure as { claim: string }).claim).toBe(claim);
  });

  it('accepts exp and nbf within the clock tolerance', async () => {
    const { token, keys, header } = await fixture('ES256', { exp: NOW - 30, nbf: NOW + 30 });
    await expect(verifyJwt(token, header, keys, options)).resolves.toMatchObject({ sub: 'u' });
  });
});

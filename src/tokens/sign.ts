import { constants, type KeyObject, sign } from 'node:crypto';

import type { CryptoKey } from 'jose';

import { keyObjectOf } from '../keys/key-object.js';
import type { SigningAlg } from '../keys/keystore.js';

/**
 * Compact JWS signing with node:crypto. Token minting is the hot path of every grant, and a
 * synchronous node:crypto signature avoids WebCrypto's per-call promise and thread-pool hop
 * (measured by `npm run bench`); the output is an ordinary JWS that jose verifies.
 */
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function signature(alg: SigningAlg, data: Buffer, key: KeyObject): Buffer {
  switch (alg) {
    case 'ES256': return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    case 'EdDSA': return sign(null, data, key);
    case 'RS256': return sign('sha256', data, key);
    case 'PS256': return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  }
}

export function signJws(header: Record<string, unknown>, payload: Record<string, unknown>, alg: SigningAlg, key: CryptoKey): string {
  const input = `${encode({ ...header, alg })}.${encode(payload)}`;
  return `${input}.${signature(alg, Buffer.from(input), keyObjectOf(key)).toString('base64url')}`;
}

import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export interface DpopKey {
  proof: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/** A DPoP proof (RFC 9449) for `htm` {issuer}/token, with a fresh key or the key of `reuse`. */
export async function dpopProof(issuer: string, htm = 'POST', reuse?: DpopKey): Promise<DpopKey> {
  const { privateKey, jwk } = reuse ?? await (async () => {
    const pair = await generateKeyPair('ES256');
    return { privateKey: pair.privateKey, jwk: await exportJWK(pair.publicKey) };
  })();
  const proof = await new SignJWT({ htm, htu: `${issuer}/token`, jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).setIssuedAt().sign(privateKey);
  return { proof, privateKey, jwk };
}

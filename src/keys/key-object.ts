import { KeyObject } from 'node:crypto';

import type { CryptoKey } from 'jose';

/**
 * node:crypto handles for jose's CryptoKeys, converted once per key: the signing and
 * verification hot paths (tokens/sign.ts, exchange/fast-verify.ts) use node:crypto directly.
 */
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

export function keyObjectOf(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

/** JWK members that carry private or symmetric key material. */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export function hasPrivateMembers(jwk: object): boolean {
  return PRIVATE_JWK_MEMBERS.some((member) => Object.hasOwn(jwk, member));
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { ConfigError } from '../config/errors.js';
import type { Policy } from '../config/policy-schema.js';

/**
 * Client secrets come from the environment (`auth.secret_env`). In development an unset variable
 * falls back to `<client id>-dev-secret` so the demo runs with no set-up; in production an unset
 * or short secret stops start-up.
 */
export type SecretResolver = (clientId: string) => string | undefined;

export const devSecret = (clientId: string): string => `${clientId}-dev-secret`;

export function resolveSecrets(policy: Policy, env: NodeJS.ProcessEnv, production: boolean): SecretResolver {
  const secrets = new Map<string, string>();
  for (const entry of [...policy.clients, ...policy.agents]) {
    if (entry.auth.method === 'private_key_jwt') continue;
    const name = entry.auth.secret_env;
    const value = env[name];
    if (value) {
      if (production && value.length < 32) {
        throw new ConfigError(`${name} (secret of client ${entry.id}): expected at least 32 characters when NODE_ENV=production (value not shown)`);
      }
      secrets.set(entry.id, value);
    } else if (production) {
      throw new ConfigError(`${name} is unset: expected the client secret of ${entry.id} when NODE_ENV=production`);
    } else {
      secrets.set(entry.id, devSecret(entry.id));
    }
  }
  return (clientId) => secrets.get(clientId);
}

/** A client secret Mandate generates: 256 bits from the CSPRNG, base64url (43 characters). */
export function newClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * What is stored instead of a secret. Generated secrets carry 256 bits of entropy, so a plain
 * SHA-256 cannot be reversed or searched; a slow password hash would only slow every request.
 */
export function secretDigest(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('base64url')}`;
}

/**
 * The digests of the policy file's secrets, computed once: what oidc-provider's client metadata
 * holds instead of the secret (`secret_env` secrets do not change while the process runs).
 */
export function secretDigests(secrets: SecretResolver): SecretResolver {
  const digests = new Map<string, string | undefined>();
  return (clientId) => {
    if (!digests.has(clientId)) {
      const secret = secrets(clientId);
      digests.set(clientId, secret === undefined ? undefined : secretDigest(secret));
    }
    return digests.get(clientId);
  };
}

/** Constant-time check of a presented secret against a stored digest. */
export function secretMatches(presented: unknown, digest: string): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 1024) return false;
  const actual = Buffer.from(secretDigest(presented));
  const expected = Buffer.from(digest);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

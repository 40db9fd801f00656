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

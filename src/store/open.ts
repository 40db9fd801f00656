import type { Env } from '../config/env.js';
import type { Policy } from '../config/policy-schema.js';
import type { Logger } from '../log.js';
import { MemoryStore } from './memory.js';
import { createRedisStore } from './redis.js';
import type { Store } from './store.js';

/**
 * The store `REDIS_URL` and the policy file's `redis` section ask for: the embedded memory store
 * when `REDIS_URL` is unset, else Redis (standalone, Cluster or Sentinel, with the key prefix).
 * The server and the `npm run audit` CLI open it the same way.
 */
export async function openStore(env: Pick<Env, 'redisUrl'>, policy: Policy, logger?: Logger): Promise<Store> {
  if (!env.redisUrl) return new MemoryStore();
  return createRedisStore({
    url: env.redisUrl,
    keyPrefix: policy.redis.key_prefix,
    ...(policy.redis.cluster ? { cluster: policy.redis.cluster } : {}),
    ...(policy.redis.sentinel ? { sentinel: policy.redis.sentinel } : {}),
    ...(logger ? { onError: (err: Error) => logger.warn({ err: { message: err.message } }, 'redis connection problem') } : {}),
  });
}

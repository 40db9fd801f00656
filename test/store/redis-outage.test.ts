import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { StoreUnavailableError } from '../../src/errors.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { RedisStore } from '../../src/store/redis.js';
import { spawnRedis, testKeyPrefix } from '../support/redis.js';
import type { SpawnedRedis } from '../support/redis.js';

/** Polls until `check` resolves, or fails after `timeoutMs`. */
async function eventually(check: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Reports how long a promise took to reject, and with what. */
async function rejection(promise: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return { error, ms: Date.now() - started };
}

// Its own redis-server: stopping the shared one would break test files running in parallel.
describe('RedisStore during a Redis outage', () => {
  let redis: SpawnedRedis;
  let store: RedisStore;

  beforeAll(async () => {
    redis = await spawnRedis();
    store = await createRedisStore({ url: redis.url, keyPrefix: testKeyPrefix() });
  });

  afterAll(async () => {
    await store.close();
    await redis.destroy();
  });

  it('fails fast with StoreUnavailableError, then recovers by itself', async () => {
    await store.set('k', 'before', { ttlSeconds: 60 });
    await redis.stop();

    const read = await rejection(store.get('k'));
    expect(read.error).toBeInstanceOf(StoreUnavailableError);
    expect(read.ms).toBeLessThan(2000);
    for (const call of [store.set('k', 'v', { ttlSeconds: 60 }), store.setJsonFieldIfAbsent('k', 'f', 1), store.addToSet('s', 'm', 60), store.ping()]) {
      expect((await rejection(call)).error).toBeInstanceOf(StoreUnavailableError);
    }

    await redis.start();
    await eventually(() => store.ping(), 5000);
    // The restarted server reloaded its append-only file (as production Redis must, for the
    // registry); the store works as before.
    expect(await store.get('k')).toBe('before');
    await store.set('k', 'after', { ttlSeconds: 60 });
    expect(await store.get('k')).toBe('after');
  });

  it('gives up on a hung Redis after the command timeout, and resumes when it answers again', async () => {
    redis.freeze();
    try {
      const read = await rejection(store.get('k'));
      expect(read.error).toBeInstanceOf(StoreUnavailableError);
      expect(read.ms).toBeLessThan(2000);
    } finally {
      redis.thaw();
    }
    await eventually(() => store.ping(), 5000);
    await store.set('k', 'thawed', { ttlSeconds: 60 });
    expect(await store.get('k')).toBe('thawed');
  });

  it('waits at start-up for a Redis that comes up within connectTimeoutMs', async () => {
    await redis.stop();
    const connecting = createRedisStore({ url: redis.url, keyPrefix: testKeyPrefix(), connectTimeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await redis.start();
    const late = await connecting;
    await late.ping();
    await late.close();
    await eventually(() => store.ping(), 5000);
  });
});

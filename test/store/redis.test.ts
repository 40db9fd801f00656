import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { StoreUnavailableError } from '../../src/errors.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { RedisStore } from '../../src/store/redis.js';
import { testKeyPrefix, testRedisUrl } from '../support/redis.js';
import { storeContract } from './contract.js';

storeContract('redis', async () => ({
  store: await createRedisStore({ url: testRedisUrl(), keyPrefix: testKeyPrefix() }),
}));

describe('RedisStore key prefix', () => {
  let outer: RedisStore;
  let inner: RedisStore;

  beforeAll(async () => {
    const prefix = testKeyPrefix();
    outer = await createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
    inner = await createRedisStore({ url: testRedisUrl(), keyPrefix: `${prefix}inner:` });
  });

  afterAll(async () => {
    await Promise.all([outer.close(), inner.close()]);
  });

  it('applies to plain commands, MULTI blocks and the Lua script alike', async () => {
    await inner.set('doc', '{}', { ttlSeconds: 60 });
    expect(await inner.setJsonFieldIfAbsent('doc', 'consumed', 1)).toBe('set');
    await inner.addToSet('set', 'm', 60);
    await inner.increment('counter', 60);
    expect(await outer.get('inner:doc')).toBe('{"consumed":1}');
    expect(await outer.setMembers('inner:set')).toEqual(['m']);
    expect(await outer.get('inner:counter')).toBe('1');
    expect(await outer.get('doc')).toBeNull();
  });
});

describe('createRedisStore', () => {
  it('rejects with StoreUnavailableError naming the host but never the password', async () => {
    // Port 1 on loopback: nothing listens there, so every attempt is refused.
    const attempt = createRedisStore({ url: 'redis://user:s3cret@127.0.0.1:1', connectTimeoutMs: 300 });
    const error = await attempt.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    const { error_description: description } = error as StoreUnavailableError;
    expect(description).toContain('127.0.0.1:1');
    expect(description).not.toContain('s3cret');
  });

  it('refuses options without a url, cluster or sentinel', async () => {
    await expect(createRedisStore({})).rejects.toThrow(TypeError);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import { createRedisStore } from '../../src/store/redis.js';
import { secretOf, startTestApp, type TestApp } from '../support/app.js';
import { spawnRedis, testKeyPrefix, type SpawnedRedis } from '../support/redis.js';

/** Polls until `check` passes or the deadline is over; returns the elapsed ms. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`condition not met within ${ms} ms`);
}

describe('Redis outage: fail closed, recover by itself', () => {
  let redis: SpawnedRedis;
  let t: TestApp;
  beforeAll(async () => {
    redis = await spawnRedis();
    t = await startTestApp({ store: await createRedisStore({ url: redis.url, keyPrefix: testKeyPrefix() }) });
  });
  afterAll(async () => {
    await t.close();
    await redis.destroy();
  });

  const token = () => request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
    .send({ grant_type: 'client_credentials' });

  it('answers 503 on /readyz and temporarily_unavailable at the token endpoint within 2 s, then recovers', async () => {
    await token().expect(200);
    await request(t.server).get('/readyz').expect(200);

    await redis.stop();

    const started = Date.now();
    const ready = await request(t.server).get('/readyz');
    const refused = await token();
    const elapsed = Date.now() - started;
    expect(ready.status).toBe(503);
    expect(ready.body).toEqual({ status: 'unavailable', store: 'redis' });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringContaining('retry later') });
    expect(refused.body).not.toHaveProperty('access_token');
    expect(elapsed).toBeLessThan(2000);
    // Liveness is not readiness: the process is still up.
    await request(t.server).get('/healthz').expect(200);

    await redis.start();

    await within(10_000, async () => (await request(t.server).get('/readyz')).status === 200);
    await within(5_000, async () => (await token()).status === 200);
  });
});

describe('Redis outage during token exchange', () => {
  it('answers 503 temporarily_unavailable, returns no token, and exchanges again once Redis is back', async () => {
    const { exchange, exchangePolicy, makeIdp } = await import('../support/exchange.js');
    const redis = await spawnRedis();
    const idp = await makeIdp(() => 'https://mandate.example');
    const t = await startTestApp({
      store: await createRedisStore({ url: redis.url, keyPrefix: testKeyPrefix() }),
      policy: exchangePolicy(idp, 'https://mandate.example'),
    });
    try {
      await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }).expect(200);
      await redis.stop();
      const refused = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringContaining('retry later') });
      await redis.start();
      await within(10_000, async () => (await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' })).status === 200);
    } finally {
      await t.close();
      await redis.destroy();
    }
  });
});

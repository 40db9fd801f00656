import { randomUUID } from 'node:crypto';

/**
 * Redis for tests: a private redis-server, never the machine's own Redis, never flushed. The
 * shared one is started by global-setup; a test that stops Redis spawns its own with `spawnRedis`.
 */
export { freePort, spawnRedis } from './global-setup.js';
export type { SpawnedRedis } from './global-setup.js';

/** URL of the Redis that global-setup prepared for this run. */
export function testRedisUrl(): string {
  const url = process.env.REDIS_URL_TEST;
  if (!url) throw new Error('REDIS_URL_TEST is not set: run the tests through jest (globalSetup starts Redis)');
  return url;
}

/** A fresh key prefix, so test files sharing one Redis never see each other's keys. */
export function testKeyPrefix(): string {
  return `mandate-test:${randomUUID()}:`;
}

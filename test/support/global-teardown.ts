import type { SpawnedRedis } from './global-setup.js';

/** Jest globalTeardown: stops the redis-server that global-setup started, if it started one. */
export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { __mandateTestRedis?: SpawnedRedis };
  await holder.__mandateTestRedis?.destroy();
  delete holder.__mandateTestRedis;
}

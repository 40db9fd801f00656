import { describe, expect, it } from '@jest/globals';
import { MemoryStore } from '../../src/store/memory.js';
import { storeContract } from './contract.js';

/** A store on a clock that only moves when told to. */
function storeOnFakeClock(sweepIntervalMs?: number): { store: MemoryStore; advance: (seconds: number) => void } {
  let now = 1_700_000_000_000;
  const store = new MemoryStore({ now: () => now, ...(sweepIntervalMs ? { sweepIntervalMs } : {}) });
  return { store, advance: (seconds) => void (now += Math.round(seconds * 1000)) };
}

storeContract('memory', async () => storeOnFakeClock());

describe('MemoryStore memory bound', () => {
  it('reclaims expired entries that are never read again', async () => {
    const { store, advance } = storeOnFakeClock();
    await store.set('a', '1', { ttlSeconds: 1 });
    await store.addToSet('s', 'm', 1);
    await store.set('kept', '1', { ttlSeconds: 60 });
    advance(2);
    expect(store.size).toBe(3);
    store.sweep();
    expect(store.size).toBe(1);
    await store.close();
  });

  it('sweeps on its own timer', async () => {
    const { store, advance } = storeOnFakeClock(10);
    await store.set('a', '1', { ttlSeconds: 1 });
    advance(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.size).toBe(0);
    await store.close();
  });
});

import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { LogConflictError, StoreUnavailableError } from '../../src/errors.js';
import type { LogEntry, Store, WriteOp } from '../../src/store/store.js';

export interface StoreUnderTest {
  store: Store;
  /** Moves the store's clock forward; without it, expiry tests wait in real time. */
  advance?: (seconds: number) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The link and body a test gives the entry at `position` of `key` (`tag` tells rival entries apart). */
const linkAt = (key: string, position: number, tag = ''): string => `link:${key}:${position}${tag}`;
const bodyAt = (key: string, position: number, tag = ''): string => JSON.stringify({ n: position, key, tag, text: 'é"\\\n' });

/** An `append` of the test entry at `position`, naming `prev` as the log's newest link. */
function appendOp(key: string, position: number, prev: string, tag = ''): Extract<WriteOp, { op: 'append' }> {
  return { op: 'append', key, position, prev, link: linkAt(key, position, tag), body: bodyAt(key, position, tag) };
}

/** The entry `appendOp(key, position, …, tag)` stores. */
const entryAt = (key: string, position: number, tag = ''): LogEntry => ({ position, link: linkAt(key, position, tag), body: bodyAt(key, position, tag) });

/** Appends positions `from`..`to` one batch at a time, each after the one before. */
async function appendRange(store: Store, key: string, from: number, to: number): Promise<void> {
  for (let position = from; position <= to; position += 1) {
    await store.writeBatch([appendOp(key, position, position === 1 ? 'genesis' : linkAt(key, position - 1))]);
  }
}

const positions = (entries: readonly LogEntry[]): number[] => entries.map((entry) => entry.position);

/**
 * The behaviour every `Store` must have, run against each implementation so that the embedded
 * store and Redis are interchangeable. Expiry uses 1 s TTLs: a fake clock steps over them, Redis
 * waits them out once.
 */
export function storeContract(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`${name} store contract`, () => {
    let store: Store;
    let advance: ((seconds: number) => void) | undefined;

    beforeEach(async () => {
      ({ store, advance } = await makeStore());
    });

    afterEach(async () => {
      await store.close();
    });

    describe('get, set, getMany, delete', () => {
      it('returns null for a missing key and the value once set', async () => {
        expect(await store.get('missing')).toBeNull();
        expect(await store.set('k', 'v1', { ttlSeconds: 60 })).toBe(true);
        expect(await store.get('k')).toBe('v1');
        expect(await store.set('k', 'v2', { ttlSeconds: 60 })).toBe(true);
        expect(await store.get('k')).toBe('v2');
      });

      it('reads several keys in order, null for the missing ones', async () => {
        await store.set('a', '1', { ttlSeconds: 60 });
        await store.set('c', '3', { ttlSeconds: 60 });
        expect(await store.getMany(['a', 'b', 'c'])).toEqual(['1', null, '3']);
        expect(await store.getMany([])).toEqual([]);
      });

      it('deletes keys and counts only those that existed', async () => {
        await store.set('a', '1', { ttlSeconds: 60 });
        await store.set('b', '2', { ttlSeconds: 60 });
        expect(await store.delete('a', 'b', 'missing')).toBe(2);
        expect(await store.getMany(['a', 'b'])).toEqual([null, null]);
        expect(await store.delete('a')).toBe(0);
        expect(await store.delete()).toBe(0);
      });

      it('writes with onlyIfAbsent only when the key does not exist', async () => {
        expect(await store.set('once', 'first', { ttlSeconds: 60, onlyIfAbsent: true })).toBe(true);
        expect(await store.set('once', 'second', { ttlSeconds: 60, onlyIfAbsent: true })).toBe(false);
        expect(await store.get('once')).toBe('first');
      });

      it('refuses a TTL that is not a positive whole number of seconds', async () => {
        for (const ttlSeconds of [0, -1, 1.5, Number.NaN]) {
          await expect(store.set('k', 'v', { ttlSeconds })).rejects.toThrow(RangeError);
        }
        expect(await store.get('k')).toBeNull();
      });
    });

    describe('writeBatch', () => {
      it('applies sets and set additions in one call, each with its TTL', async () => {
        await store.addToSet('s', 'old', 600);
        await store.writeBatch([
          { op: 'set', key: 'r', value: 'record', ttlSeconds: 60 },
          { op: 'addToSet', key: 's', member: 'new', ttlSeconds: 30 },
          { op: 'addToSet', key: 'fresh', member: 'm', ttlSeconds: 45 },
        ]);
        expect(await store.get('r')).toBe('record');
        expect((await store.setMembers('s')).sort()).toEqual(['new', 'old']);
        expect(await store.setMembers('fresh')).toEqual(['m']);
        expect(await store.ttl('r')).toBeGreaterThan(55);
        // Never shortened: the set keeps its longer TTL.
        expect(await store.ttl('s')).toBeGreaterThan(590);
        expect(await store.ttl('fresh')).toBeGreaterThan(40);
        expect(await store.ttl('fresh')).toBeLessThanOrEqual(45);
      });

      it('accepts an empty batch and refuses a bad TTL', async () => {
        await store.writeBatch([]);
        await expect(store.writeBatch([{ op: 'set', key: 'x', value: 'v', ttlSeconds: 0 }])).rejects.toThrow(RangeError);
      });
    });

    describe('ttl and expiry', () => {
      it('reports the remaining TTL, -2 for a missing key', async () => {
        expect(await store.ttl('missing')).toBe(-2);
        await store.set('k', 'v', { ttlSeconds: 100 });
        expect(await store.ttl('k')).toBeGreaterThanOrEqual(99);
        expect(await store.ttl('k')).toBeLessThanOrEqual(100);
      });

      it('expires every kind of key after its TTL', async () => {
        await store.set('value', 'v', { ttlSeconds: 1 });
        await store.set('absent', 'v', { ttlSeconds: 1, onlyIfAbsent: true });
        await store.set('json', '{}', { ttlSeconds: 1 });
        await store.addToSet('set', 'm', 1);
        await store.increment('counter', 1);
        // Exactly at the TTL with a fake clock; with a margin in real time.
        if (advance) {
          advance(0.999);
          expect(await store.get('value')).toBe('v');
          advance(0.001);
        } else {
          await sleep(1500);
        }
        expect(await store.get('value')).toBeNull();
        expect(await store.ttl('value')).toBe(-2);
        expect(await store.getMany(['value', 'absent'])).toEqual([null, null]);
        expect(await store.set('absent', 'again', { ttlSeconds: 60, onlyIfAbsent: true })).toBe(true);
        expect(await store.setJsonFieldIfAbsent('json', 'f', 1)).toBe('missing');
        expect(await store.setMembers('set')).toEqual([]);
        expect(await store.increment('counter', 60)).toBe(1);
        expect(await store.delete('value')).toBe(0);
      });
    });

    describe('setJsonFieldIfAbsent', () => {
      it('sets an absent field and keeps the rest of the object intact', async () => {
        const original = { list: [], nested: { x: [1, 2] }, pi: 3.141592653589793, url: 'https://a/b', s: 'é"\\' };
        await store.set('doc', JSON.stringify(original), { ttlSeconds: 100 });
        expect(await store.setJsonFieldIfAbsent('doc', 'consumed', 1_700_000_000)).toBe('set');
        expect(JSON.parse((await store.get('doc'))!)).toEqual({ ...original, consumed: 1_700_000_000 });
        expect(await store.ttl('doc')).toBeGreaterThanOrEqual(99);
      });

      it('leaves a present field alone', async () => {
        await store.set('doc', JSON.stringify({ consumed: 1 }), { ttlSeconds: 100 });
        expect(await store.setJsonFieldIfAbsent('doc', 'consumed', 2)).toBe('present');
        expect(JSON.parse((await store.get('doc'))!)).toEqual({ consumed: 1 });
      });

      it('works on an empty object and with string and boolean values', async () => {
        await store.set('doc', '{}', { ttlSeconds: 100 });
        expect(await store.setJsonFieldIfAbsent('doc', 'by', 'alice')).toBe('set');
        expect(await store.setJsonFieldIfAbsent('doc', 'ok', true)).toBe('set');
        expect(JSON.parse((await store.get('doc'))!)).toEqual({ by: 'alice', ok: true });
      });

      it('answers missing for a missing key without creating it', async () => {
        expect(await store.setJsonFieldIfAbsent('nothing', 'consumed', 1)).toBe('missing');
        expect(await store.get('nothing')).toBeNull();
      });

      it('refuses a value that is not a JSON object', async () => {
        await store.set('array', '[1]', { ttlSeconds: 100 });
        await store.set('text', 'not json', { ttlSeconds: 100 });
        await expect(store.setJsonFieldIfAbsent('array', 'f', 1)).rejects.toThrow(TypeError);
        await expect(store.setJsonFieldIfAbsent('text', 'f', 1)).rejects.toThrow(TypeError);
        expect(await store.get('array')).toBe('[1]');
      });

      it('lets exactly one of 50 concurrent callers set the field', async () => {
        await store.set('code', JSON.stringify({ jti: 'c1' }), { ttlSeconds: 100 });
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.setJsonFieldIfAbsent('code', 'consumed', i)),
        );
        expect(outcomes.filter((outcome) => outcome === 'set')).toHaveLength(1);
        expect(outcomes.filter((outcome) => outcome === 'present')).toHaveLength(49);
        const winner = outcomes.indexOf('set');
        expect(JSON.parse((await store.get('code'))!)).toEqual({ jti: 'c1', consumed: winner });
      });
    });

    describe('sets', () => {
      it('collects members, empty when missing', async () => {
        expect(await store.setMembers('set')).toEqual([]);
        await store.addToSet('set', 'a', 60);
        await store.addToSet('set', 'b', 60);
        await store.addToSet('set', 'a', 60);
        expect((await store.setMembers('set')).sort()).toEqual(['a', 'b']);
      });

      it('extends the TTL to the longest requested and never shortens it', async () => {
        await store.addToSet('set', 'a', 100);
        expect(await store.ttl('set')).toBeGreaterThanOrEqual(99);
        await store.addToSet('set', 'b', 500);
        expect(await store.ttl('set')).toBeGreaterThanOrEqual(499);
        await store.addToSet('set', 'c', 10);
        expect(await store.ttl('set')).toBeGreaterThanOrEqual(499);
      });
    });

    describe('durable keys (ttlSeconds: null)', () => {
      it('keeps values and sets with no expiry, reported as TTL -1', async () => {
        expect(await store.set('record', 'v', { ttlSeconds: null })).toBe(true);
        expect(await store.set('record', 'w', { ttlSeconds: null, onlyIfAbsent: true })).toBe(false);
        await store.addToSet('index', 'a', null);
        await store.writeBatch([
          { op: 'set', key: 'batched', value: 'b', ttlSeconds: null },
          { op: 'addToSet', key: 'index', member: 'b', ttlSeconds: null },
        ]);
        for (const key of ['record', 'index', 'batched']) expect(await store.ttl(key)).toBe(-1);
        if (advance) advance(10 * 365 * 24 * 3600);
        expect(await store.get('record')).toBe('v');
        expect(await store.get('batched')).toBe('b');
        expect((await store.setMembers('index')).sort()).toEqual(['a', 'b']);
      });

      it('never lets a later TTL shorten a durable set, and makes an expiring set durable', async () => {
        await store.addToSet('durable', 'a', null);
        await store.addToSet('durable', 'b', 5);
        expect(await store.ttl('durable')).toBe(-1);
        await store.addToSet('expiring', 'a', 5);
        await store.addToSet('expiring', 'b', null);
        expect(await store.ttl('expiring')).toBe(-1);
      });
    });

    describe('compareAndSet', () => {
      it('replaces only the expected value and keeps the TTL', async () => {
        await store.set('k', 'v1', { ttlSeconds: 100 });
        expect(await store.compareAndSet('k', 'other', 'v2')).toBe(false);
        expect(await store.get('k')).toBe('v1');
        expect(await store.compareAndSet('k', 'v1', 'v2')).toBe(true);
        expect(await store.get('k')).toBe('v2');
        expect(await store.ttl('k')).toBeGreaterThanOrEqual(99);
        await store.set('d', 'v1', { ttlSeconds: null });
        expect(await store.compareAndSet('d', 'v1', 'v2')).toBe(true);
        expect(await store.ttl('d')).toBe(-1);
      });

      it('never creates a missing key', async () => {
        expect(await store.compareAndSet('missing', '', 'v')).toBe(false);
        expect(await store.get('missing')).toBeNull();
      });

      it('lets exactly one of 20 concurrent writers with the same expectation win', async () => {
        await store.set('k', 'v0', { ttlSeconds: 60 });
        const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => store.compareAndSet('k', 'v0', `v${i + 1}`)));
        expect(wins.filter(Boolean)).toHaveLength(1);
        expect(await store.get('k')).toBe(`v${wins.indexOf(true) + 1}`);
      });
    });

    describe('set removal and size', () => {
      it('removes members, counts them, and drops the set with its last member', async () => {
        expect(await store.setSize('set')).toBe(0);
        await store.addToSet('set', 'a', null);
        await store.addToSet('set', 'b', null);
        expect(await store.setSize('set')).toBe(2);
        await store.removeFromSet('set', 'a');
        await store.removeFromSet('set', 'missing');
        expect(await store.setMembers('set')).toEqual(['b']);
        expect(await store.setSize('set')).toBe(1);
        await store.removeFromSet('set', 'b');
        expect(await store.ttl('set')).toBe(-2);
        await store.removeFromSet('never-was', 'x');
        expect(await store.setSize('never-was')).toBe(0);
      });
    });

    describe('increment', () => {
      it('counts from 1 and keeps the TTL set at creation', async () => {
        expect(await store.increment('counter', 100)).toBe(1);
        expect(await store.increment('counter', 500)).toBe(2);
        expect(await store.ttl('counter')).toBeLessThanOrEqual(100);
        expect(await store.ttl('counter')).toBeGreaterThanOrEqual(99);
      });

      it('gives every concurrent caller a distinct count', async () => {
        const counts = await Promise.all(Array.from({ length: 20 }, () => store.increment('counter', 60)));
        expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      });
    });

    describe('append-only logs', () => {
      it('accepts any prev on an empty log, then only the newest link with a higher position', async () => {
        expect(await store.lastLogEntry('log')).toBeNull();
        await store.writeBatch([appendOp('log', 1, 'whatever the writer believes')]);
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', 1));
        await store.writeBatch([appendOp('log', 2, linkAt('log', 1))]);
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', 2));

        const refused: [string, Extract<WriteOp, { op: 'append' }>][] = [
          ['a stale prev (the link before the newest)', appendOp('log', 3, linkAt('log', 1), 'stale')],
          ['an unknown prev', appendOp('log', 3, 'not-a-link', 'unknown')],
          ['the newest position again', appendOp('log', 2, linkAt('log', 2), 'again')],
          ['a lower position', appendOp('log', 1, linkAt('log', 2), 'lower')],
        ];
        for (const [why, op] of refused) {
          const error = await store.writeBatch([op]).then(() => `accepted ${why}`, (caught: unknown) => caught);
          expect(error).toBeInstanceOf(LogConflictError);
          // A conflict is transient for a client: the writer re-reads the log's end and carries on.
          expect(error).toBeInstanceOf(StoreUnavailableError);
          expect(await store.readLog('log', { count: 10 })).toEqual([entryAt('log', 1), entryAt('log', 2)]);
        }

        // Higher, not necessarily next: the chain of links, not the store, rules out gaps.
        await store.writeBatch([appendOp('log', 7, linkAt('log', 2))]);
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', 7));
        expect(positions(await store.readLog('log', { count: 10 }))).toEqual([1, 2, 7]);
      });

      it('keeps logs apart by key and appends several entries of one batch in order', async () => {
        await store.writeBatch([
          appendOp('a', 1, 'genesis'),
          appendOp('b', 1, 'genesis'),
          appendOp('a', 2, linkAt('a', 1)),
          appendOp('a', 3, linkAt('a', 2)),
        ]);
        expect(await store.readLog('a', { count: 10 })).toEqual([entryAt('a', 1), entryAt('a', 2), entryAt('a', 3)]);
        expect(await store.readLog('b', { count: 10 })).toEqual([entryAt('b', 1)]);
      });

      // The contract for a batch whose append conflicts: the batch rejects, that append and the
      // log are untouched, and the ops BEFORE it in the batch have been written (a batch is not a
      // transaction). Whether ops after it are written is left to the store (Redis runs the rest
      // of the pipeline, the memory store stops), so callers put appends last.
      it('rejects a conflicting batch without appending, but keeps the writes before the conflict', async () => {
        await appendRange(store, 'log', 1, 2);
        await store.addToSet('index', 'old', null);
        const batch = store.writeBatch([
          { op: 'set', key: 'record', value: 'written first', ttlSeconds: null },
          { op: 'addToSet', key: 'index', member: 'new', ttlSeconds: null },
          appendOp('other', 1, 'genesis'),
          appendOp('log', 3, linkAt('log', 3), 'conflict'),
        ]);
        await expect(batch).rejects.toBeInstanceOf(LogConflictError);
        expect(await store.get('record')).toBe('written first');
        expect((await store.setMembers('index')).sort()).toEqual(['new', 'old']);
        expect(await store.readLog('other', { count: 10 })).toEqual([entryAt('other', 1)]);
        expect(await store.readLog('log', { count: 10 })).toEqual([entryAt('log', 1), entryAt('log', 2)]);
        // The log carries on after its real end.
        await store.writeBatch([appendOp('log', 3, linkAt('log', 2))]);
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', 3));
      });

      it('lets exactly one of 20 concurrent appends after the same link land', async () => {
        await appendRange(store, 'log', 1, 1);
        const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) =>
          store.writeBatch([appendOp('log', 2, linkAt('log', 1), `#${i}`)]).then(() => 'appended', (error: unknown) => error)));
        const winner = outcomes.indexOf('appended');
        expect(outcomes.filter((outcome) => outcome === 'appended')).toHaveLength(1);
        for (const outcome of outcomes.filter((o) => o !== 'appended')) expect(outcome).toBeInstanceOf(LogConflictError);
        expect(await store.readLog('log', { count: 10 })).toEqual([entryAt('log', 1), entryAt('log', 2, `#${winner}`)]);
      });

      it('reads oldest first, after an exclusive position, at most count entries; empty when missing', async () => {
        expect(await store.readLog('missing', { count: 10 })).toEqual([]);
        expect(await store.readLog('missing', { after: 3, count: 10 })).toEqual([]);
        expect(await store.lastLogEntry('missing')).toBeNull();
        await appendRange(store, 'log', 1, 5);
        expect(await store.readLog('log', { count: 100 })).toEqual([1, 2, 3, 4, 5].map((n) => entryAt('log', n)));
        expect(await store.readLog('log', { count: 2 })).toEqual([entryAt('log', 1), entryAt('log', 2)]);
        expect(await store.readLog('log', { after: 0, count: 100 })).toEqual([1, 2, 3, 4, 5].map((n) => entryAt('log', n)));
        expect(await store.readLog('log', { after: 2, count: 2 })).toEqual([entryAt('log', 3), entryAt('log', 4)]);
        expect(positions(await store.readLog('log', { after: 4, count: 100 }))).toEqual([5]);
        expect(await store.readLog('log', { after: 5, count: 100 })).toEqual([]);
        expect(await store.readLog('log', { after: 99, count: 100 })).toEqual([]);
        // Paging by the last position read visits every entry once.
        const paged: number[] = [];
        for (let page = await store.readLog('log', { count: 2 }); page.length > 0; page = await store.readLog('log', { after: page.at(-1)!.position, count: 2 })) {
          paged.push(...positions(page));
        }
        expect(paged).toEqual([1, 2, 3, 4, 5]);
        // Reading leaves the log as it was.
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', 5));
      });

      it('reads after a position that is not itself in the log', async () => {
        await store.writeBatch([appendOp('log', 10, 'genesis'), appendOp('log', 20, linkAt('log', 10)), appendOp('log', 30, linkAt('log', 20))]);
        expect(positions(await store.readLog('log', { after: 15, count: 10 }))).toEqual([20, 30]);
        expect(positions(await store.readLog('log', { after: 20, count: 10 }))).toEqual([30]);
        expect(positions(await store.readLog('log', { after: 9, count: 1 }))).toEqual([10]);
      });

      it('trims the entries before keepFrom, counts them, and keeps the later ones appendable', async () => {
        expect(await store.trimLog('missing', 3)).toBe(0);
        await appendRange(store, 'log', 1, 5);
        expect(await store.trimLog('log', 3)).toBe(2);
        expect(await store.readLog('log', { count: 10 })).toEqual([3, 4, 5].map((n) => entryAt('log', n)));
        expect(await store.trimLog('log', 3)).toBe(0);
        expect(await store.trimLog('log', 1)).toBe(0);
        expect(await store.trimLog('log', 4)).toBe(1);
        expect(await store.readLog('log', { count: 10 })).toEqual([entryAt('log', 4), entryAt('log', 5)]);
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', 5));
        // Trimming the start changes nothing about where the log ends.
        await expect(store.writeBatch([appendOp('log', 6, linkAt('log', 4), 'stale')])).rejects.toBeInstanceOf(LogConflictError);
        await store.writeBatch([appendOp('log', 6, linkAt('log', 5))]);
        expect(positions(await store.readLog('log', { after: 4, count: 10 }))).toEqual([5, 6]);
      });

      it('keeps a log without expiry', async () => {
        await appendRange(store, 'log', 1, 2);
        expect(await store.ttl('log')).toBe(-1);
        if (advance) advance(10 * 365 * 24 * 3600);
        expect(positions(await store.readLog('log', { count: 10 }))).toEqual([1, 2]);
      });

      // What the audit trail relies on: a writer computes each append's position and prev
      // synchronously from the one before and fires the batches without waiting; every one lands,
      // in the order made, in both stores.
      it('lands 200 batches fired without awaiting, each after the one made before it, in order', async () => {
        const total = 200;
        const batches: Promise<void>[] = [];
        let prev = 'genesis';
        for (let position = 1; position <= total; position += 1) {
          const op = appendOp('log', position, prev);
          batches.push(store.writeBatch([{ op: 'set', key: `record:${position}`, value: String(position), ttlSeconds: 60 }, op]));
          prev = op.link;
        }
        const outcomes = await Promise.allSettled(batches);
        expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
        const entries = await store.readLog('log', { count: total + 10 });
        expect(entries).toEqual(Array.from({ length: total }, (_, i) => entryAt('log', i + 1)));
        expect(await store.lastLogEntry('log')).toEqual(entryAt('log', total));
        expect(await store.get(`record:${total}`)).toBe(String(total));
      });

      it('treats a log used as another type, or another type used as a log, as a TypeError', async () => {
        await appendRange(store, 'log', 1, 1);
        await store.set('text', 'abc', { ttlSeconds: 60 });
        await store.addToSet('set', 'm', 60);
        await expect(store.get('log')).rejects.toThrow(TypeError);
        await expect(store.addToSet('log', 'm', 60)).rejects.toThrow(TypeError);
        await expect(store.readLog('text', { count: 1 })).rejects.toThrow(TypeError);
        await expect(store.lastLogEntry('set')).rejects.toThrow(TypeError);
        await expect(store.trimLog('text', 1)).rejects.toThrow(TypeError);
        expect(await store.readLog('log', { count: 10 })).toEqual([entryAt('log', 1)]);
      });
    });

    it('treats using a key as the wrong type as a programming error (TypeError)', async () => {
      await store.addToSet('set', 'm', 60);
      await store.set('text', 'abc', { ttlSeconds: 60 });
      await expect(store.get('set')).rejects.toThrow(TypeError);
      await expect(store.setJsonFieldIfAbsent('set', 'f', 1)).rejects.toThrow(TypeError);
      await expect(store.addToSet('text', 'm', 60)).rejects.toThrow(TypeError);
      await expect(store.increment('text', 60)).rejects.toThrow(TypeError);
      await expect(store.compareAndSet('set', 'x', 'y')).rejects.toThrow(TypeError);
      await expect(store.removeFromSet('text', 'm')).rejects.toThrow(TypeError);
      await expect(store.setSize('text')).rejects.toThrow(TypeError);
    });

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}

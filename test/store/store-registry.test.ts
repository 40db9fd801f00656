import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';

import { parsePolicy } from '../../src/config/load.js';
import { StoreRegistry, withRequestReads } from '../../src/registry/store-registry.js';
import { registryAgentKey, registryIndexKey } from '../../src/store/keys.js';
import type { Store } from '../../src/store/store.js';
import { makeStore, STORE_KINDS, TEST_POLICY } from '../support/app.js';

// The registry's record handling on both stores: set-if-absent creation, compare-and-set updates
// under contention, paging that skips dangling index entries, external identity claims, and the
// per-request read memo.

interface Rec {
  id: string;
  n: number;
}

describe.each(STORE_KINDS)('store registry (%s store)', (kind) => {
  let store: Store;
  let registry: StoreRegistry;
  beforeEach(async () => {
    store = await makeStore(kind);
    registry = new StoreRegistry(store, parsePolicy(TEST_POLICY, 'test policy'));
  });
  afterEach(() => store.close());

  it('creates a record once; the id stays taken', async () => {
    expect(await registry.create('agents', 'a1', { id: 'a1', n: 0 })).toBe(true);
    expect(await registry.create('agents', 'a1', { id: 'a1', n: 9 })).toBe(false);
    expect(await registry.read<Rec>('agents', 'a1')).toEqual({ id: 'a1', n: 0 });
    expect(await store.ttl(registryAgentKey('a1'))).toBe(-1);
  });

  it('applies 20 concurrent read-modify-writes without losing one', async () => {
    await registry.create('agents', 'a1', { id: 'a1', n: 0 });
    await Promise.all(Array.from({ length: 20 }, () => registry.update<Rec>('agents', 'a1', (r) => ({ ...r, n: r.n + 1 }))));
    expect((await registry.read<Rec>('agents', 'a1'))?.n).toBe(20);
  });

  it('writes nothing when the change refuses, and answers undefined for a missing record', async () => {
    await registry.create('agents', 'a1', { id: 'a1', n: 1 });
    await expect(registry.update<Rec>('agents', 'a1', () => { throw new Error('refused'); })).rejects.toThrow('refused');
    expect((await registry.read<Rec>('agents', 'a1'))?.n).toBe(1);
    expect(await registry.update<Rec>('agents', 'missing', (r) => r)).toBeUndefined();
  });

  it('pages in id order, skips index entries without a record, and ends with a null cursor', async () => {
    for (const id of ['e', 'b', 'd', 'a', 'c']) await registry.create('agents', id, { id, n: id.charCodeAt(0) });
    // An index entry whose record write never happened (a failed create) is skipped.
    await store.addToSet(registryIndexKey('agents'), 'bb', null);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await registry.page<Rec>('agents', { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((r) => r.id));
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
    const filtered = await registry.page<Rec>('agents', { limit: 10, filter: (r) => r.n % 2 === 1 });
    expect(filtered).toEqual({ items: [{ id: 'a', n: 97 }, { id: 'c', n: 99 }, { id: 'e', n: 101 }], next_cursor: null });
  });

  it('maps an external identity to one user; a stale mapping can be taken over', async () => {
    const subject = { iss: 'https://idp.example', sub: '00u1' };
    await registry.create('users', 'alice', { id: 'alice', name: 'A', status: 'active', subjects: [subject] });
    await registry.create('users', 'bob', { id: 'bob', name: 'B', status: 'active', subjects: [] });
    expect(await registry.claimSubject(subject.iss, subject.sub, 'alice')).toBe('claimed');
    expect(await registry.claimSubject(subject.iss, subject.sub, 'alice')).toBe('held');
    expect(await registry.claimSubject(subject.iss, subject.sub, 'bob')).toBe('taken');
    expect((await registry.userBySubject(subject.iss, subject.sub))?.id).toBe('alice');
    // Alice no longer lists it: the mapping is stale, lookups ignore it and bob may claim it.
    await registry.update<{ subjects: unknown[] }>('users', 'alice', (u) => ({ ...u, subjects: [] }));
    expect(await registry.userBySubject(subject.iss, subject.sub)).toBeUndefined();
    expect(await registry.claimSubject(subject.iss, subject.sub, 'bob')).toBe('claimed');
    await registry.update<{ subjects: unknown[] }>('users', 'bob', (u) => ({ ...u, subjects: [subject] }));
    expect((await registry.userBySubject(subject.iss, subject.sub))?.id).toBe('bob');
  });

  it('reads a record once per request, and afresh in the next one', async () => {
    await registry.create('agents', 'a1', { id: 'a1', n: 1 });
    await withRequestReads(async () => {
      expect((await registry.read<Rec>('agents', 'a1'))?.n).toBe(1);
      await registry.update<Rec>('agents', 'a1', (r) => ({ ...r, n: 2 }));
      // Within the request the snapshot holds.
      expect((await registry.read<Rec>('agents', 'a1'))?.n).toBe(1);
    });
    await withRequestReads(async () => {
      expect((await registry.read<Rec>('agents', 'a1'))?.n).toBe(2);
    });
    expect((await registry.read<Rec>('agents', 'a1'))?.n).toBe(2);
  });

  it('keeps plain clients and resources from the policy file', async () => {
    expect((await registry.client('travel-app'))?.kind).toBe('client');
    expect(registry.isPlainClient('travel-app')).toBe(true);
    expect(await registry.client('travel-agent')).toBeUndefined();
    expect(registry.resource('https://api.travel.example')?.name).toBe('Travel API');
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import type { Store } from '../../src/store/store.js';
import { TokenRecords, type TokenRecord } from '../../src/tokens/records.js';
import { makeStore, STORE_KINDS } from '../support/app.js';

const now = Math.floor(Date.now() / 1000);
const record = (jti: string, parent: string | null = null): TokenRecord => ({
  jti, client_id: 'c', sub: 'alice', aud: 'https://api', scope: 'read', iat: now, exp: now + 300, parent_jti: parent, grant_type: 'test',
});

describe.each(STORE_KINDS)('token records (%s store)', (kind) => {
  let store: Store;
  let records: TokenRecords;
  beforeAll(async () => {
    store = await makeStore(kind);
    records = new TokenRecords(store);
  });
  afterAll(() => store.close());

  it('stores a record for as long as the token lives', async () => {
    await store.writeBatch(records.writes(record('r1')));
    expect(await records.get('r1')).toEqual(record('r1'));
    expect(records.isActive(await records.get('r1'))).toBe(true);
    const ttl = await store.ttl('mandate:token:{r1}');
    expect(ttl).toBeGreaterThan(295);
    expect(ttl).toBeLessThanOrEqual(300);
  });

  it('revoking a token revokes its whole subtree, and nothing above or beside it', async () => {
    for (const [jti, parent] of [['root', null], ['a', 'root'], ['a1', 'a'], ['a2', 'a'], ['b', 'root'], ['a1x', 'a1']] as const) {
      await store.writeBatch(records.writes(record(jti, parent)));
    }
    expect((await records.revoke('a')).sort()).toEqual(['a', 'a1', 'a1x', 'a2']);
    for (const jti of ['a', 'a1', 'a2', 'a1x']) expect(records.isActive(await records.get(jti))).toBe(false);
    for (const jti of ['root', 'b']) expect(records.isActive(await records.get(jti))).toBe(true);
    expect(await records.revoke('a')).toEqual([]);
  });

  it('an expired record is not active; a missing one neither', async () => {
    await store.writeBatch(records.writes({ ...record('old'), exp: now - 1 }));
    expect(records.isActive(await records.get('old'))).toBe(false);
    expect(records.isActive(await records.get('never-issued'))).toBe(false);
  });
});

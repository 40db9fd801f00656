import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { errors } from 'oidc-provider';
import type { AdapterConstructor, AdapterPayload } from 'oidc-provider';
import { DEFAULT_TTL_SECONDS, createOidcAdapter } from '../../src/oidc/adapter.js';
import { oidcGrantKey, oidcModelKey, oidcUidKey, oidcUserCodeKey } from '../../src/store/keys.js';
import { MemoryStore } from '../../src/store/memory.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { testKeyPrefix, testRedisUrl } from '../support/redis.js';

interface AdapterUnderTest {
  store: Store;
  /** Every key in the store, where the store can list them (Redis). */
  listKeys?: () => Promise<string[]>;
}

/** Keys under a prefix, found with SCAN on a separate connection, the prefix stripped. */
async function scanKeys(url: string, prefix: string): Promise<string[]> {
  const redis = new Redis(url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch.map((key) => key.slice(prefix.length)));
    } while (cursor !== '0');
    return keys;
  } finally {
    await redis.quit();
  }
}

const token = (fields: AdapterPayload): AdapterPayload => ({ clientId: 'client-1', iat: 1_700_000_000, ...fields });

function adapterSuite(name: string, make: () => Promise<AdapterUnderTest>): void {
  describe(`oidc adapter on the ${name} store`, () => {
    let store: Store;
    let listKeys: (() => Promise<string[]>) | undefined;
    let Adapter: AdapterConstructor;

    beforeEach(async () => {
      ({ store, listKeys } = await make());
      Adapter = createOidcAdapter(store, {
        Client: { find: async (id) => (id === 'known' ? { client_id: 'known' } : undefined) },
      });
    });

    afterEach(async () => {
      await store.close();
    });

    it('stores a payload and finds it again', async () => {
      const codes = new Adapter('AuthorizationCode');
      const payload = token({ jti: 'code-1', grantId: 'grant-1', kind: 'AuthorizationCode' });
      await codes.upsert('code-1', payload, 60);
      expect(await codes.find('code-1')).toEqual(payload);
      expect(await codes.find('nope')).toBeUndefined();
      expect(await new Adapter('RefreshToken').find('code-1')).toBeUndefined();
    });

    it('consumes once; a second consume is a reuse and revokes the grant', async () => {
      const codes = new Adapter('AuthorizationCode');
      const tokens = new Adapter('AccessToken');
      await codes.upsert('code-1', token({ grantId: 'grant-1' }), 60);
      await tokens.upsert('at-1', token({ grantId: 'grant-1' }), 60);

      await codes.consume('code-1');
      const consumed = (await codes.find('code-1'))?.consumed as number;
      expect(consumed).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 1);
      await expect(codes.consume('code-1')).rejects.toThrow(errors.InvalidGrant);
      expect(await codes.find('code-1')).toBeUndefined();
      expect(await tokens.find('at-1')).toBeUndefined();
    });

    it('keeps the first consumed mark when a request URI is used twice', async () => {
      const requests = new Adapter('PushedAuthorizationRequest');
      await requests.upsert('par-1', token({}), 60);
      await requests.consume('par-1');
      const first = (await requests.find('par-1'))?.consumed as number;
      await expect(requests.consume('par-1')).rejects.toThrow(errors.InvalidRequestUri);
      expect((await requests.find('par-1'))?.consumed).toBe(first);
      await expect(requests.consume('missing')).resolves.toBeUndefined();
    });

    it('finds a session by uid and a device code by user code', async () => {
      const sessions = new Adapter('Session');
      const deviceCodes = new Adapter('DeviceCode');
      await sessions.upsert('session-1', { uid: 'uid-1', accountId: 'alice' }, 600);
      await deviceCodes.upsert('dc-1', token({ userCode: 'ABCD-EFGH' }), 600);
      expect(await sessions.findByUid('uid-1')).toEqual({ uid: 'uid-1', accountId: 'alice' });
      expect(await sessions.findByUid('uid-2')).toBeUndefined();
      expect(await deviceCodes.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
      expect(await deviceCodes.findByUserCode('ZZZZ-ZZZZ')).toBeUndefined();
    });

    it('revokes every model instance of a grant, and only that grant', async () => {
      await new Adapter('AccessToken').upsert('at-1', token({ grantId: 'grant-1' }), 60);
      await new Adapter('RefreshToken').upsert('rt-1', token({ grantId: 'grant-1' }), 3600);
      await new Adapter('AccessToken').upsert('at-2', token({ grantId: 'grant-2' }), 60);

      await new Adapter('RefreshToken').revokeByGrantId('grant-1');

      expect(await new Adapter('AccessToken').find('at-1')).toBeUndefined();
      expect(await new Adapter('RefreshToken').find('rt-1')).toBeUndefined();
      expect(await store.ttl(oidcGrantKey('grant-1'))).toBe(-2);
      expect(await new Adapter('AccessToken').find('at-2')).toBeDefined();
    });

    it('destroys one instance', async () => {
      const grants = new Adapter('Grant');
      await grants.upsert('grant-1', { accountId: 'alice', clientId: 'client-1' }, 600);
      await grants.destroy('grant-1');
      expect(await grants.find('grant-1')).toBeUndefined();
    });

    it('gives every key it writes a TTL', async () => {
      await new Adapter('AccessToken').upsert('at-1', token({ grantId: 'grant-1' }), 60);
      await new Adapter('RefreshToken').upsert('rt-1', token({ grantId: 'grant-1' }), 3600);
      await new Adapter('Session').upsert('session-1', { uid: 'uid-1' }, 600);
      await new Adapter('DeviceCode').upsert('dc-1', token({ userCode: 'ABCD', grantId: 'grant-1' }), 600);
      await new Adapter('RegistrationAccessToken').upsert('rat-1', token({}));
      await new Adapter('Interaction').upsert('int-1', { uid: 'int-1' }, 0);

      const expected: Record<string, [number, number]> = {
        [oidcModelKey('AccessToken', 'at-1')]: [59, 60],
        [oidcModelKey('RefreshToken', 'rt-1')]: [3599, 3600],
        [oidcGrantKey('grant-1')]: [3599, 3600],
        [oidcModelKey('Session', 'session-1')]: [599, 600],
        [oidcUidKey('uid-1')]: [599, 600],
        [oidcModelKey('DeviceCode', 'dc-1')]: [599, 600],
        [oidcUserCodeKey('ABCD')]: [599, 600],
        [oidcModelKey('RegistrationAccessToken', 'rat-1')]: [DEFAULT_TTL_SECONDS - 1, DEFAULT_TTL_SECONDS],
        // Saved with 0 s left: the smallest TTL the store accepts.
        [oidcModelKey('Interaction', 'int-1')]: [0, 1],
      };
      for (const [key, [low, high]] of Object.entries(expected)) {
        const ttl = await store.ttl(key);
        expect({ key, ttl, inRange: ttl >= low && ttl <= high }).toEqual({ key, ttl, inRange: true });
      }
      if (listKeys) {
        const keys = await listKeys();
        expect(keys.sort()).toEqual(Object.keys(expected).sort());
        // Nothing else was written, and nothing lives forever (TTL -1).
        for (const key of keys) expect({ key, expires: (await store.ttl(key)) > 0 }).toEqual({ key, expires: true });
      }
    });

    it('serves overridden models from the override and never writes them', async () => {
      const clients = new Adapter('Client');
      expect(await clients.find('known')).toEqual({ client_id: 'known' });
      expect(await clients.find('unknown')).toBeUndefined();
      await expect(clients.upsert('known', { client_id: 'known' })).rejects.toThrow(TypeError);
      await expect(clients.destroy('known')).rejects.toThrow(TypeError);
    });

    it('delegates deletion to an override that handles it', async () => {
      const destroyed: string[] = [];
      const WithTokens = createOidcAdapter(store, {
        AccessToken: {
          find: async () => undefined,
          destroy: async (id) => void destroyed.push(id),
        },
      });
      await new WithTokens('AccessToken').destroy('at-9');
      expect(destroyed).toEqual(['at-9']);
      await expect(new WithTokens('AccessToken').upsert('at-9', token({}), 60)).rejects.toThrow(TypeError);
    });
  });
}

adapterSuite('memory', async () => ({ store: new MemoryStore() }));

adapterSuite('redis', async () => {
  const prefix = testKeyPrefix();
  const store = await createRedisStore({ url: testRedisUrl(), keyPrefix: prefix });
  return { store, listKeys: () => scanKeys(testRedisUrl(), prefix) };
});

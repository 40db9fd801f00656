import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';

import { createRedisStore } from '../../src/store/redis.js';
import { ADMIN_TOKEN, secretOf, startTestApp } from '../support/app.js';
import { spawnRedisCluster, type SpawnedCluster } from '../support/redis-cluster.js';
import { testKeyPrefix } from '../support/redis.js';
import { storeContract } from './contract.js';

/**
 * The same contract on a real three-master Redis Cluster (`redis.cluster` in the policy file):
 * keys of one batch land in different slots on different nodes.
 */
let cluster: SpawnedCluster;

beforeAll(async () => {
  cluster = await spawnRedisCluster();
}, 30_000);

afterAll(async () => {
  await cluster.destroy();
});

storeContract('redis cluster', async () => ({
  store: await createRedisStore({ cluster: { nodes: cluster.nodes }, keyPrefix: testKeyPrefix() }),
}));

describe('the app on a Redis Cluster', () => {
  it('issues, introspects and revokes tokens whose keys span the nodes, and its audit trail verifies', async () => {
    const t = await startTestApp({ store: await createRedisStore({ cluster: { nodes: cluster.nodes }, keyPrefix: testKeyPrefix() }) });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => request(t.server).post('/token').auth('travel-app', secretOf('travel-app')).type('form')
        .send({ grant_type: 'client_credentials', resource: 'https://api.travel.example', scope: 'trips:read' })));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
      const token = answers[0]!.body.access_token as string;
      const introspect = () => request(t.server).post('/token/introspection').auth('travel-api', secretOf('travel-api')).type('form').send({ token });
      expect((await introspect().expect(200)).body).toMatchObject({ active: true, client_id: 'travel-app' });
      await request(t.server).post('/token/revocation').auth('travel-app', secretOf('travel-app')).type('form').send({ token }).expect(200);
      expect((await introspect().expect(200)).body).toEqual({ active: false });
      const verify = await request(t.server).get('/admin/audit/verify').set('authorization', `Bearer ${ADMIN_TOKEN}`).expect(200);
      expect(verify.body).toMatchObject({ valid: true, checked: 21, first_bad: null });
    } finally {
      await t.close();
    }
  });
});

import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt } from 'jose';
import request from 'supertest';

import { openAuditKeys, generateAuditKey } from '../../src/audit/audit-keys.js';
import { openSealed, type CheckpointBody } from '../../src/audit/chain.js';
import { runAuditCli } from '../../src/audit/cli-main.js';
import type { VerifyResult } from '../../src/audit/trail.js';
import { generateKey } from '../../src/keys/keystore.js';
import { auditCheckpointsKey } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis.js';
import { ADMIN_TOKEN, secretOf, startTestApp, TEST_POLICY, type TestApp } from '../support/app.js';
import { exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';
import { freePort, spawnRedis, testKeyPrefix, testRedisUrl, type SpawnedRedis } from '../support/redis.js';
import { buildDist, startServer } from '../support/spawn.js';

/**
 * The audit trail under stress (SPEC sections 7 and 10): two real processes appending to one Redis
 * at once each keep a chain that verifies, and a Redis outage in the middle of traffic never lets a
 * token out without its stored event, nor logs an event for a token nobody received.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface AuditEventView {
  type: string;
  jti?: string;
  trail: { writer: string; position: number };
}

/** Runs `task` over `items` with at most `width` in flight; results in item order. */
async function pool<T, R>(items: readonly T[], width: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i]!);
    }
  }));
  return results;
}

describe('two processes appending to one Redis at the same time', () => {
  const ADMIN = 'audit-failure-admin-token-0123456789';
  const basic = (id: string): string => `Basic ${Buffer.from(`${id}:${secretOf(id)}`).toString('base64')}`;
  let dir: string;
  let keysDir: string;
  let configPath: string;
  let keyPrefix: string;
  const servers: { child: ChildProcess; port: number; stdout: string[]; exited: Promise<number | null> }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mandate-audit-failure-'));
    keysDir = join(dir, 'keys');
    await generateKey(keysDir, 'ES256');
    await generateAuditKey(keysDir);
    keyPrefix = testKeyPrefix();
    configPath = join(dir, 'policy.json');
    // Checkpoints only at shutdown: the interval is far beyond the test's run.
    await writeFile(configPath, JSON.stringify({ ...TEST_POLICY, redis: { key_prefix: keyPrefix }, audit: { checkpoint_interval_seconds: 3600 } }));
    await buildDist();
    for (let i = 0; i < 2; i += 1) {
      const port = await freePort();
      const child = startServer({ REDIS_URL: testRedisUrl(), MANDATE_KEYS_DIR: keysDir, MANDATE_CONFIG: configPath, PORT: String(port), MANDATE_ADMIN_TOKEN: ADMIN });
      const stdout: string[] = [];
      let partial = '';
      child.stdout!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        stdout.push(...lines.filter(Boolean));
      });
      child.stderr!.resume();
      servers.push({ child, port, stdout, exited: new Promise((resolve) => child.on('exit', resolve)) });
    }
    for (const { port } of servers) {
      const deadline = Date.now() + 15_000;
      let ready = false;
      while (!ready && Date.now() < deadline) {
        ready = (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200;
        if (!ready) await sleep(100);
      }
      expect(ready).toBe(true);
    }
  }, 120_000);
  afterAll(async () => {
    for (const { child } of servers) child.kill('SIGKILL'); // a failed assertion must not leave a server running
    await rm(dir, { recursive: true, force: true });
  });

  const cliEnv = (): NodeJS.ProcessEnv => ({ REDIS_URL: testRedisUrl(), MANDATE_CONFIG: configPath, MANDATE_KEYS_DIR: keysDir });
  const cliVerify = async (): Promise<{ code: number; result: VerifyResult; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await runAuditCli(['verify', '--json'], { stdout: { write: (s: string) => { stdout += s; } }, stderr: { write: (s: string) => { stderr += s; } }, env: cliEnv() });
    return { code, result: (stdout ? JSON.parse(stdout) : undefined) as VerifyResult, stderr };
  };
  const admin = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });

  it('every answered token has its event, both chains verify, the CLI agrees, and each process checkpoints on SIGTERM', async () => {
    const PER_SERVER = 150;
    // Interleaved, so both processes are appending at the same moments.
    const interleaved = Array.from({ length: PER_SERVER * 2 }, (_, i) => servers[i % 2]!.port);
    const answers = await pool(interleaved, 32, async (port) => {
      const res = await fetch(`http://127.0.0.1:${port}/token`, {
        method: 'POST', headers: { authorization: basic('travel-app'), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=trips%3Aread',
      });
      return { port, status: res.status, body: (await res.json()) as Record<string, unknown> };
    });
    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses]).toEqual([200]);
    const issued = answers.map((a) => decodeJwt(a.body.access_token as string).jti!);
    expect(new Set(issued).size).toBe(answers.length);

    // The trail as one process's admin API lists it: every event, both writers.
    const listed: AuditEventView[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await admin(servers[1]!.port, `/admin/audit?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { items: AuditEventView[]; next_cursor: string | null };
      listed.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);
    const issuedEvents = listed.filter((e) => e.type === 'token.issued');
    expect(issuedEvents.map((e) => e.jti).sort()).toEqual([...issued].sort());

    const verifyRes = await admin(servers[0]!.port, '/admin/audit/verify');
    expect(verifyRes.status).toBe(200);
    const verified = (await verifyRes.json()) as VerifyResult;
    expect(verified).toMatchObject({ valid: true, first_bad: null, checked: listed.length, checkpoints: 0 });
    expect(verified.checked).toBe(answers.length + listed.filter((e) => e.type !== 'token.issued').length);
    expect(verified.chains).toHaveLength(2);
    const writers = verified.chains.map((c) => c.writer).sort();
    expect(writers).toEqual([...new Set(listed.map((e) => e.trail.writer))].sort());
    for (const chain of verified.chains) {
      const mine = listed.filter((e) => e.trail.writer === chain.writer);
      expect(chain).toEqual({ writer: chain.writer, checked: mine.length, last: mine.length, valid: true });
      // Positions 1..n without a gap or a repeat, though appends raced the other process's.
      expect(mine.map((e) => e.trail.position).sort((a, b) => a - b)).toEqual(Array.from({ length: mine.length }, (_, i) => i + 1));
    }
    // Each process issued its share: both chains hold token.issued events.
    for (const writer of writers) expect(issuedEvents.filter((e) => e.trail.writer === writer).length).toBeGreaterThan(0);

    const before = await cliVerify();
    expect({ code: before.code, stderr: before.stderr }).toEqual({ code: 0, stderr: '' });
    expect(before.result).toEqual(verified);

    // SIGTERM: each drains, signs a last checkpoint and exits 0.
    for (const { child } of servers) child.kill('SIGTERM');
    expect(await Promise.all(servers.map((s) => s.exited))).toEqual([0, 0]);
    for (const { stdout } of servers) expect(stdout.some((line) => (JSON.parse(line) as { msg?: string }).msg === 'stopped')).toBe(true);

    const after = await cliVerify();
    expect({ code: after.code, stderr: after.stderr }).toEqual({ code: 0, stderr: '' });
    expect(after.result).toMatchObject({ valid: true, first_bad: null, checked: verified.checked, chains: verified.chains });
    expect(after.result.checkpoints).toBeGreaterThanOrEqual(2);

    // The checkpoints are signed by both processes, and name every chain's end.
    const store = await createRedisStore({ url: testRedisUrl(), keyPrefix });
    try {
      const keys = await openAuditKeys(keysDir, { generateIfEmpty: false });
      const checkpoints = (await store.setMembers(auditCheckpointsKey())).map((raw) => openSealed<CheckpointBody>(keys, raw, 'checkpoint'));
      expect(checkpoints.every((c) => c !== undefined)).toBe(true);
      expect([...new Set(checkpoints.map((c) => c!.by))].sort()).toEqual(writers);
      for (const checkpoint of checkpoints) {
        for (const chain of verified.chains) expect(checkpoint!.heads[chain.writer]?.n).toBe(chain.last);
      }
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('Redis stops in the middle of traffic', () => {
  const MANDATE_AUD = 'https://mandate.example';
  let redis: SpawnedRedis;
  let idp: TestIdp;
  let t: TestApp;
  beforeAll(async () => {
    redis = await spawnRedis();
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: await createRedisStore({ url: redis.url, keyPrefix: testKeyPrefix() }), policy: exchangePolicy(idp, MANDATE_AUD) });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.destroy();
  });

  interface Answer {
    phase: Phase;
    kind: 'client_credentials' | 'exchange';
    status: number;
    body: Record<string, unknown>;
  }
  type Phase = 'up' | 'down' | 'back';

  it('answers 200 or 503, never a token without its stored event; the writer resyncs and the trail verifies', async () => {
    let phase: Phase = 'up';
    let running = true;
    const answers: Answer[] = [];
    const count = (p: Phase, status: number): number => answers.filter((a) => a.phase === p && a.status === status).length;

    const one = async (i: number): Promise<void> => {
      const started = phase;
      const kind = i % 2 === 0 ? 'client_credentials' : 'exchange';
      const res = kind === 'client_credentials'
        ? await request(t.server).post('/token').auth('agent-a', secretOf('agent-a')).type('form').send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' })
        : await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' });
      answers.push({ phase: started, kind, status: res.status, body: res.body as Record<string, unknown> });
    };
    const workers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; running; i += 1) await one(i);
    });
    const until = async (what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    };

    try {
      await until('tokens before the outage', () => count('up', 200) >= 40);
      await redis.stop();
      phase = 'down';
      await until('refusals during the outage', () => count('down', 503) >= 16);
      await redis.start();
      phase = 'back';
      await until('tokens after the outage', () => count('back', 200) >= 40);
    } finally {
      running = false;
      await Promise.all(workers);
    }

    // Never a 500 or anything else: a token, or "try again".
    expect([...new Set(answers.map((a) => a.status))].sort()).toEqual([200, 503]);
    for (const a of answers.filter((x) => x.status === 503)) {
      expect(a.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    }
    // Both kinds were refused and both issued again after the outage.
    for (const kind of ['client_credentials', 'exchange'] as const) {
      expect(answers.some((a) => a.kind === kind && a.status === 503)).toBe(true);
      expect(answers.some((a) => a.kind === kind && a.status === 200 && a.phase === 'back')).toBe(true);
    }

    const returned = answers.filter((a) => a.status === 200).map((a) => decodeJwt(a.body.access_token as string).jti!);
    expect(new Set(returned).size).toBe(returned.length);

    // Every token a client received has its token.issued event in the trail, found by jti.
    await pool(returned, 16, async (jti) => {
      const event = await t.audit.tokenEvent(jti);
      expect(event).toMatchObject({ type: 'token.issued', outcome: 'success', jti, client_id: 'agent-a' });
      const listed = await request(t.server).get(`/admin/audit?jti=${jti}`).set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200);
      expect((listed.body.items as AuditEventView[]).filter((e) => e.type === 'token.issued').map((e) => e.jti)).toEqual([jti]);
    });

    // No audit log line (what a SIEM receives) for a token nobody received, and one for each that was.
    const logged = t.logs.map((line) => JSON.parse(line) as { audit?: boolean; event?: { type: string; jti?: string } })
      .filter((l) => l.audit === true && l.event?.type === 'token.issued').map((l) => l.event!.jti!);
    expect([...logged].sort()).toEqual([...returned].sort());

    const verified = (await request(t.server).get('/admin/audit/verify').set('Authorization', `Bearer ${ADMIN_TOKEN}`).expect(200)).body as VerifyResult;
    expect(verified).toMatchObject({ valid: true, first_bad: null });
    expect(verified.chains).toEqual([{ writer: t.audit.writer, checked: verified.checked, last: verified.checked, valid: true }]);
    expect(verified.checked).toBeGreaterThanOrEqual(returned.length);
  }, 60_000);
});

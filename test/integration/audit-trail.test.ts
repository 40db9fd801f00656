import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import request from 'supertest';

import { AuditKeys, openAuditKeys, type AuditKey } from '../../src/audit/audit-keys.js';
import { openSealed, parseBody, sealEntry, type AnchorBody, type CheckpointBody, type Sealed } from '../../src/audit/chain.js';
import { runAuditCli } from '../../src/audit/cli-main.js';
import type { AuditEvent, StoredEvent } from '../../src/audit/events.js';
import { AuditTrail, type VerifyResult } from '../../src/audit/trail.js';
import { createLogger } from '../../src/log.js';
import { auditAnchorKey, auditChainKey, auditCheckpointsKey } from '../../src/store/keys.js';
import { createRedisStore } from '../../src/store/redis.js';
import type { Store } from '../../src/store/store.js';
import { ADMIN_TOKEN, makeStore, secretOf, startTestApp, STORE_KINDS, TEST_POLICY, type TestApp } from '../support/app.js';
import { claimsOf, exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';
import { testKeyPrefix, testRedisUrl } from '../support/redis.js';
import { buildDist } from '../support/spawn.js';

/**
 * The audit trail (SPEC section 7, issue 6): every decision is stored in a per-writer hash chain
 * before it is logged; tampering with what Redis holds is found at its position by
 * GET /admin/audit/verify and `npm run audit -- verify`; retention cuts behind a sealed anchor;
 * GET /admin/audit answers who did what, filtered and paged.
 */

const MAIL = 'https://api.mail.example';
const run = promisify(execFile);

const admin = (t: TestApp) => ({
  get: (path: string, query: Record<string, string> = {}) => request(t.server).get(path).query(query).set('Authorization', `Bearer ${ADMIN_TOKEN}`),
  post: (path: string, body: object) => request(t.server).post(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
  patch: (path: string, body: object) => request(t.server).patch(path).set('Authorization', `Bearer ${ADMIN_TOKEN}`).send(body),
});

const clientCredentials = (t: TestApp, client: string, params: Record<string, string>, requestId: string) =>
  request(t.server).post('/token').auth(client, secretOf(client)).type('form').set('x-request-id', requestId)
    .send({ grant_type: 'client_credentials', ...params });

const revoke = (t: TestApp, client: string, token: string) =>
  request(t.server).post('/token/revocation').auth(client, secretOf(client)).type('form').send({ token });

const verifyApi = async (t: TestApp): Promise<VerifyResult> => (await admin(t).get('/admin/audit/verify').expect(200)).body as VerifyResult;

interface LogLine { audit?: boolean; event?: AuditEvent; msg?: string; level?: number; request_id?: string; audit_unstored?: string[]; first_bad?: unknown }
const logLines = (logs: readonly string[]): LogLine[] => logs.map((line) => JSON.parse(line) as LogLine);
/** The events logged for a SIEM (`"audit":true`). */
const auditLogged = (logs: readonly string[]): AuditEvent[] => logLines(logs).filter((l) => l.audit === true).map((l) => l.event!);

const agentBody = (id: string) => ({ id, name: id, owner: 'alice', tier: 2, scopes: ['trips:read'], audiences: [TRAVEL], auth: { method: 'client_secret_basic' } });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ————————————————————————————————————————————————————————————————————————————————————————————
// Tampering with the stream in Redis
// ————————————————————————————————————————————————————————————————————————————————————————————

interface RawEntry { id: string; h: string; b: string }

describe('audit trail on Redis: tampering with the stored stream is found at its position', () => {
  let t: TestApp;
  let prefix: string;
  let raw: Redis;
  let original: RawEntry[];
  let originalCheckpoints: string[];
  let configDir: string;
  let configPath: string;
  const tokens: string[] = [];

  const chain = () => auditChainKey(t.audit.writer);

  async function readStream(): Promise<RawEntry[]> {
    const reply = await raw.xrange(chain(), '-', '+');
    return reply.map(([id, fields]) => {
      const entry: RawEntry = { id, h: '', b: '' };
      for (let i = 0; i + 1 < fields.length; i += 2) {
        if (fields[i] === 'h') entry.h = fields[i + 1]!;
        if (fields[i] === 'b') entry.b = fields[i + 1]!;
      }
      return entry;
    });
  }

  /** Replaces the whole stream: DEL, then XADD each entry with its id (`<n>-0`) and fields h, b. */
  async function rewrite(entries: readonly RawEntry[]): Promise<void> {
    const multi = raw.multi().del(chain());
    for (const e of entries) multi.xadd(chain(), e.id, 'h', e.h, 'b', e.b);
    await multi.exec();
  }

  const bodyOf = (entry: RawEntry) => parseBody(entry.b)!;
  const at = (position: number): RawEntry => original.find((e) => e.id === `${position}-0`)!;

  async function expectUntouched(): Promise<void> {
    expect(await readStream()).toEqual(original);
    expect(await verifyApi(t)).toMatchObject({ valid: true, checked: original.length, first_bad: null });
  }

  beforeAll(async () => {
    prefix = testKeyPrefix();
    t = await startTestApp({ store: await createRedisStore({ url: testRedisUrl(), keyPrefix: prefix }) });
    raw = new Redis(testRedisUrl(), { keyPrefix: prefix, lazyConnect: true });
    await raw.connect();

    // A trail of real decisions: tokens issued and refused, admin changes, a revocation.
    tokens.push((await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:read' }, 'tp-1').expect(200)).body.access_token as string);
    tokens.push((await clientCredentials(t, 'multi-app', { resource: MAIL, scope: 'mail:read' }, 'tp-2').expect(200)).body.access_token as string);
    await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'mail:read' }, 'tp-3').expect(400);
    await admin(t).post('/admin/users', { id: 'tp-user', name: 'Tamper user' }).expect(201);
    await admin(t).post('/admin/agents', agentBody('tp-agent')).expect(201);
    tokens.push((await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:read' }, 'tp-4').expect(200)).body.access_token as string);
    await admin(t).patch('/admin/agents/tp-agent', { status: 'suspended' }).expect(200);
    await admin(t).patch('/admin/agents/tp-agent', { status: 'active' }).expect(200);
    await admin(t).post('/admin/delegations', { user: 'alice', agent: 'tp-agent', scopes: ['trips:read'], audiences: [TRAVEL] }).expect(201);
    await revoke(t, 'travel-app', tokens[0]!).expect(200);
    tokens.push((await clientCredentials(t, 'multi-app', { resource: TRAVEL, scope: 'trips:read' }, 'tp-5').expect(200)).body.access_token as string);

    original = await readStream();
    originalCheckpoints = await raw.smembers(auditCheckpointsKey());

    configDir = await mkdtemp(join(tmpdir(), 'mandate-audit-cli-'));
    configPath = join(configDir, 'mandate.json');
    await writeFile(configPath, JSON.stringify({ ...TEST_POLICY, redis: { key_prefix: prefix } }));
  });

  /** Each case starts from the trail as it was made: its entries, no anchor, the same checkpoints. */
  afterEach(async () => {
    await rewrite(original);
    const multi = raw.multi().del(auditAnchorKey(t.audit.writer), auditCheckpointsKey());
    if (originalCheckpoints.length > 0) multi.sadd(auditCheckpointsKey(), ...originalCheckpoints);
    await multi.exec();
  });

  afterAll(async () => {
    raw.disconnect();
    await t.close();
    await rm(configDir, { recursive: true, force: true });
  });

  it('an untouched trail verifies: every stored event is checked, one stream entry per logged event', async () => {
    const logged = auditLogged(t.logs);
    expect(original.length).toBeGreaterThanOrEqual(10);
    expect(original.length).toBe(logged.length);
    expect(original.map((e) => e.id)).toEqual(original.map((_, i) => `${i + 1}-0`));
    expect(original.map((e) => bodyOf(e).e.id).sort()).toEqual(logged.map((e) => e.id).sort());
    expect(new Set(original.map((e) => bodyOf(e).e.type))).toEqual(new Set([
      'token.issued', 'token.refused', 'token.revoked', 'user.created', 'agent.created', 'agent.suspended', 'agent.resumed', 'delegation.created',
    ]));
    expect(await verifyApi(t)).toEqual({
      valid: true, checked: original.length, first_bad: null, checkpoints: 0,
      chains: [{ writer: t.audit.writer, checked: original.length, last: original.length, valid: true }],
    });
  });

  it('(i) one field changed inside one event (its scope) → first_bad at that position', async () => {
    await expectUntouched();
    // travel-app's second token, in the middle of the trail.
    const target = original.find((e) => bodyOf(e).e.request_id === 'tp-4')!;
    expect(bodyOf(target).n).toBeGreaterThan(1);
    expect(bodyOf(target).n).toBeLessThan(original.length);
    const body = bodyOf(target);
    expect(body.e.scope).toBe('trips:read');
    // The attacker changes the scope and keeps the entry's link: they cannot compute a new one.
    const altered = JSON.stringify({ ...body, e: { ...body.e, scope: 'trips:read trips:book' } });
    await rewrite(original.map((e) => (e === target ? { ...e, b: altered } : e)));

    const result = await verifyApi(t);
    expect(result).toMatchObject({
      valid: false, checked: body.n,
      first_bad: { writer: t.audit.writer, position: body.n, reason: expect.stringMatching(/altered/), event_id: body.e.id },
      chains: [{ writer: t.audit.writer, valid: false }],
    });
  });

  it('(ii) one entry deleted (XDEL) → first_bad at the deleted position', async () => {
    await expectUntouched();
    const position = Math.floor(original.length / 2);
    expect(await raw.xdel(chain(), `${position}-0`)).toBe(1);

    const result = await verifyApi(t);
    expect(result).toMatchObject({
      valid: false,
      first_bad: { writer: t.audit.writer, position, reason: `event ${position + 1} is where event ${position} belongs: event ${position} is missing or out of order`, event_id: bodyOf(at(position + 1)).e.id },
    });
  });

  it('(iii) two entries swapped → first_bad at the first swapped position', async () => {
    await expectUntouched();
    const [third, fourth] = [at(3), at(4)];
    await rewrite(original.map((e) => (e === third ? { ...fourth, id: third.id } : e === fourth ? { ...third, id: fourth.id } : e)));

    const result = await verifyApi(t);
    expect(result).toMatchObject({ valid: false, first_bad: { writer: t.audit.writer, position: 3, event_id: bodyOf(fourth).e.id } });
  });

  it('(iv) a forged entry inserted after position 2 → first_bad at its position (3)', async () => {
    await expectUntouched();
    // Sealed like a real one (same writer, kid and link to entry 2) but with a key the attacker guessed.
    const second = bodyOf(at(2));
    const guessed: AuditKey = { kid: second.k, secret: randomBytes(32), created_at: new Date().toISOString() };
    const event: AuditEvent = { ...second.e, id: '00000000-0000-4000-8000-000000000000', type: 'token.issued', outcome: 'success', client_id: 'travel-app', scope: 'trips:book' };
    const forged = sealEntry(guessed, t.audit.writer, 3, at(2).h, event);
    const shifted = original.map((e) => (bodyOf(e).n <= 2 ? e : { ...e, id: `${bodyOf(e).n + 1}-0` }));
    await rewrite([...shifted.slice(0, 2), { id: '3-0', h: forged.link, b: forged.body }, ...shifted.slice(2)]);

    const result = await verifyApi(t);
    expect(result).toMatchObject({
      valid: false, checked: 3,
      first_bad: { writer: t.audit.writer, position: 3, reason: expect.stringMatching(/altered/), event_id: event.id },
    });
  });

  it('(iv) a genuine entry replayed after position 2 (its seal is valid) → first_bad at position 3', async () => {
    await expectUntouched();
    // Stream ids order entries: 2-1 sits between 2-0 and 3-0 without renumbering anything.
    await rewrite([at(1), at(2), { ...at(1), id: '2-1' }, ...original.slice(2)]);

    const result = await verifyApi(t);
    expect(result).toMatchObject({
      valid: false,
      first_bad: { writer: t.audit.writer, position: 3, reason: 'event 1 appears again, out of order', event_id: bodyOf(at(1)).e.id },
    });
  });

  it('the newest entries deleted after a checkpoint → first_bad at the first missing position', async () => {
    await expectUntouched();
    expect(await t.audit.checkpoint()).toBe(true);
    expect(await verifyApi(t)).toMatchObject({ valid: true, checkpoints: 1 });
    const n = original.length;
    await raw.xdel(chain(), `${n - 1}-0`, `${n}-0`);

    const result = await verifyApi(t);
    expect(result).toMatchObject({
      valid: false, checkpoints: 1,
      first_bad: { writer: t.audit.writer, position: n - 1, reason: expect.stringContaining(`events ${n - 1} to ${n} are missing`) },
    });
    // It is the checkpoint that tells: without it the shortened chain is whole in itself.
    await raw.del(auditCheckpointsKey());
    expect(await verifyApi(t)).toMatchObject({ valid: true, checked: n - 2, checkpoints: 0 });
  });

  it('an altered checkpoint → not valid (position 0: a checkpoint)', async () => {
    await expectUntouched();
    expect(await t.audit.checkpoint({ force: true })).toBe(true);
    const [stored] = await raw.smembers(auditCheckpointsKey());
    const sealed = JSON.parse(stored!) as Sealed;
    const body = JSON.parse(sealed.body) as CheckpointBody;
    // Claims a shorter chain, so that deleting the newest events would pass: the seal no longer matches.
    const altered = JSON.stringify({ body: JSON.stringify({ ...body, heads: { [t.audit.writer]: { n: 2, h: at(2).h } } }), mac: sealed.mac });
    await raw.multi().srem(auditCheckpointsKey(), stored!).sadd(auditCheckpointsKey(), altered).exec();

    const result = await verifyApi(t);
    expect(result).toMatchObject({ valid: false, checkpoints: 0, first_bad: { writer: t.audit.writer, position: 0, reason: expect.stringMatching(/checkpoint is altered/) } });
  });

  it('after a retention cut the kept part verifies from its anchor; an altered or deleted anchor is found', async () => {
    await expectUntouched();
    const keys = await openAuditKeys(t.keysDir, { generateIfEmpty: false });
    const keep = 4;
    const retention = new AuditTrail({ store: t.store, keys, logger: createLogger('silent'), maxEventsPerWriter: keep });
    expect(await retention.retain()).toBe(original.length - keep);
    expect((await readStream()).map((e) => e.id)).toEqual(original.slice(-keep).map((e) => e.id));
    const cut = original.length - keep;
    const anchorRaw = (await raw.get(auditAnchorKey(t.audit.writer)))!;
    expect(openSealed<AnchorBody>(keys, anchorRaw, 'anchor')).toMatchObject({ type: 'anchor', w: t.audit.writer, n: cut, h: at(cut).h });
    expect(await verifyApi(t)).toMatchObject({ valid: true, checked: keep, chains: [{ writer: t.audit.writer, checked: keep, last: original.length, valid: true }] });

    // The anchor moved back one position (to hide the removal of an event after the cut): its seal breaks.
    const sealed = JSON.parse(anchorRaw) as Sealed;
    const moved = JSON.stringify({ body: JSON.stringify({ ...(JSON.parse(sealed.body) as AnchorBody), n: cut + 1, h: at(cut + 1).h }), mac: sealed.mac });
    await raw.set(auditAnchorKey(t.audit.writer), moved);
    await raw.xdel(chain(), `${cut + 1}-0`);
    expect(await verifyApi(t)).toMatchObject({ valid: false, first_bad: { writer: t.audit.writer, position: 1, reason: expect.stringMatching(/anchor is altered/) } });

    // No anchor at all: the chain starts after a gap.
    await raw.del(auditAnchorKey(t.audit.writer));
    expect(await verifyApi(t)).toMatchObject({ valid: false, first_bad: { writer: t.audit.writer, position: 1, reason: `event ${cut + 2} is where event 1 belongs: events 1 to ${cut + 1} are missing or out of order` } });
  });

  // ——— npm run audit -- verify ———

  const cli = async (argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await runAuditCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env });
    return { code, stdout, stderr };
  };
  const cliEnv = (): NodeJS.ProcessEnv => ({ REDIS_URL: testRedisUrl(), MANDATE_CONFIG: configPath, MANDATE_KEYS_DIR: t.keysDir });

  it('the CLI exits 0 for an untouched trail, 1 naming the first bad position after tampering; --json is the API\'s answer', async () => {
    await expectUntouched();
    const valid = await cli(['verify'], cliEnv());
    expect(valid).toEqual({ code: 0, stdout: `audit trail valid: ${original.length} events in 1 chain(s), 0 checkpoint(s)\n`, stderr: '' });
    const validJson = await cli(['verify', '--json'], cliEnv());
    expect(validJson.code).toBe(0);
    expect(JSON.parse(validJson.stdout)).toEqual(await verifyApi(t));

    const position = 5;
    await raw.xdel(chain(), `${position}-0`);
    const invalid = await cli(['verify'], cliEnv());
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain('audit trail NOT valid');
    expect(invalid.stdout).toContain(`first bad: writer ${t.audit.writer}, position ${position}`);
    expect(invalid.stdout).toContain(`event ${position} is missing or out of order`);
    const invalidJson = await cli(['verify', '--json'], cliEnv());
    expect(invalidJson.code).toBe(1);
    const api = await verifyApi(t);
    expect(api.first_bad).toMatchObject({ position });
    expect(JSON.parse(invalidJson.stdout)).toEqual(api);
  });

  it('the CLI exits 2 when the trail cannot be checked or the command is wrong', async () => {
    const env = cliEnv();
    const noRedis = await cli(['verify'], { ...env, REDIS_URL: undefined });
    expect(noRedis.code).toBe(2);
    expect(noRedis.stderr).toContain('REDIS_URL is unset');
    const emptyKeys = await mkdtemp(join(tmpdir(), 'mandate-no-audit-keys-'));
    try {
      const noKeys = await cli(['verify'], { ...env, MANDATE_KEYS_DIR: emptyKeys });
      expect(noKeys).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('no audit key') });
    } finally {
      await rm(emptyKeys, { recursive: true, force: true });
    }
    for (const argv of [[], ['check'], ['verify', 'now'], ['verify', '--jsn']]) {
      const res = await cli(argv, env);
      expect({ argv, code: res.code, stdout: res.stdout }).toEqual({ argv, code: 2, stdout: '' });
      expect(res.stderr).toContain('usage: npm run audit -- verify [--json]');
    }
  });

  it('`npm run audit -- verify` runs as a process (node dist/src/audit/cli.js): exit 0, then 1 after tampering', async () => {
    await buildDist();
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), REDIS_URL: testRedisUrl(), MANDATE_CONFIG: configPath, MANDATE_KEYS_DIR: t.keysDir };
    const ok = await run(process.execPath, ['dist/src/audit/cli.js', 'verify'], { env });
    expect(ok.stdout).toBe(`audit trail valid: ${original.length} events in 1 chain(s), 0 checkpoint(s)\n`);

    await raw.xdel(chain(), '2-0');
    const failed = await run(process.execPath, ['dist/src/audit/cli.js', 'verify'], { env }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`first bad: writer ${t.audit.writer}, position 2`);
  });
});

// ————————————————————————————————————————————————————————————————————————————————————————————
// Retention
// ————————————————————————————————————————————————————————————————————————————————————————————

describe.each(STORE_KINDS)('audit trail retention (%s store)', (kind) => {
  const DAY = 86_400_000;
  let store: Store;
  let logs: string[];
  let clock: number;
  const keys = new AuditKeys([{ kid: 'retention-k1', secret: randomBytes(32), created_at: '2030-01-01T00:00:00.000Z' }]);

  const trail = (options: { retentionDays?: number; maxEventsPerWriter?: number } = {}) => new AuditTrail({
    store, keys, retentionDays: 1, now: () => new Date(clock), ...options,
    logger: createLogger('info', new Writable({ write(chunk, _enc, done) { logs.push(...String(chunk).split('\n').filter(Boolean)); done(); } })),
  });
  const recordMany = async (a: AuditTrail, label: string, count: number): Promise<void> => {
    for (let i = 0; i < count; i += 1) await a.record({ type: 'agent.changed', outcome: 'success', client_id: `${label}-${i}` });
  };
  const stored = async (a: AuditTrail) => (await store.readLog(auditChainKey(a.writer), { count: 1000 })).map((e) => ({ position: e.position, client_id: parseBody(e.body)!.e.client_id }));

  beforeEach(async () => {
    store = await makeStore(kind);
    logs = [];
    clock = Date.parse('2030-01-01T00:00:00.000Z');
  });
  afterEach(() => store.close());

  it('cuts events older than retention_days behind a sealed anchor; the newest stay, the trail and a checkpoint made before the cut verify', async () => {
    const a = trail();
    await recordMany(a, 'old', 6);
    const sixth = (await store.lastLogEntry(auditChainKey(a.writer)))!;
    clock += 2 * DAY;
    await recordMany(a, 'new', 3);
    expect(await a.checkpoint()).toBe(true);
    expect(await a.verify()).toMatchObject({ valid: true, checked: 9, checkpoints: 1 });

    expect(await a.retain()).toBe(6);
    expect(await stored(a)).toEqual([{ position: 7, client_id: 'new-0' }, { position: 8, client_id: 'new-1' }, { position: 9, client_id: 'new-2' }]);
    const anchor = openSealed<AnchorBody>(keys, (await store.get(auditAnchorKey(a.writer)))!, 'anchor');
    expect(anchor).toMatchObject({ type: 'anchor', w: a.writer, n: 6, h: sixth.link, k: 'retention-k1' });
    expect(await a.verify()).toEqual({
      valid: true, checked: 3, first_bad: null, checkpoints: 1, chains: [{ writer: a.writer, checked: 3, last: 9, valid: true }],
    });
    expect((await a.list({ limit: 100 })).items.map((e) => e.client_id)).toEqual(['new-2', 'new-1', 'new-0']);

    // The chain goes on from where it was; a second cut leaves nothing more to remove.
    await a.record({ type: 'agent.changed', outcome: 'success', client_id: 'newer' });
    expect(await a.retain()).toBe(0);
    expect(await a.verify()).toMatchObject({ valid: true, checked: 4, chains: [{ last: 10, valid: true }] });
  });

  it('keeps the newest event even when every event is old', async () => {
    const a = trail();
    await recordMany(a, 'old', 5);
    clock += 5 * DAY;
    expect(await a.retain()).toBe(4);
    expect(await stored(a)).toEqual([{ position: 5, client_id: 'old-4' }]);
    expect(await a.verify()).toMatchObject({ valid: true, checked: 1, chains: [{ last: 5, valid: true }] });
  });

  it('max_events_per_writer cuts by count; checkpoints of the cut part and of the kept part both still verify', async () => {
    const a = trail({ retentionDays: 400, maxEventsPerWriter: 3 });
    await recordMany(a, 'e', 4);
    expect(await a.checkpoint()).toBe(true);
    await recordMany(a, 'e', 4);
    expect(await a.checkpoint()).toBe(true);
    expect(await a.retain()).toBe(5);
    expect((await stored(a)).map((e) => e.position)).toEqual([6, 7, 8]);
    expect(await a.verify()).toEqual({
      valid: true, checked: 3, first_bad: null, checkpoints: 2, chains: [{ writer: a.writer, checked: 3, last: 8, valid: true }],
    });
  });

  it('retention does not make removal undetectable: the kept part still fails when an entry after the anchor goes', async () => {
    const a = trail();
    await recordMany(a, 'old', 4);
    clock += 2 * DAY;
    await recordMany(a, 'new', 3);
    expect(await a.retain()).toBe(4);
    // Entry 6 removed through the store's own retention call, as an attacker with store access could.
    const kept = await store.readLog(auditChainKey(a.writer), { count: 100 });
    await store.trimLog(auditChainKey(a.writer), 7);
    expect(kept.map((e) => e.position)).toEqual([5, 6, 7]);
    expect(await a.verify()).toMatchObject({ valid: false, first_bad: { writer: a.writer, position: 5, reason: 'event 7 is where event 5 belongs: events 5 to 6 are missing or out of order' } });
  });

  it('a chain that does not verify is left whole (it is evidence), and says so; a good chain beside it is still cut', async () => {
    const bad = trail();
    const good = trail();
    await recordMany(bad, 'bad', 6);
    await recordMany(good, 'good', 6);
    // A forged entry at the end of one chain: right position and link to the one before, no valid seal.
    const last = (await store.lastLogEntry(auditChainKey(bad.writer)))!;
    const body = JSON.stringify({ ...parseBody(last.body)!, n: 7, p: last.link });
    await store.writeBatch([{ op: 'append', key: auditChainKey(bad.writer), position: 7, prev: last.link, link: 'forged-link', body }]);
    clock += 5 * DAY;

    expect(await bad.retain()).toBe(5);
    expect((await stored(bad)).map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await store.get(auditAnchorKey(bad.writer))).toBeNull();
    expect((await stored(good)).map((e) => e.position)).toEqual([6]);
    expect(logLines(logs).filter((l) => l.msg === 'audit chain does not verify: retention leaves it whole'))
      .toEqual([expect.objectContaining({ first_bad: expect.objectContaining({ writer: bad.writer, position: 7 }) })]);
    expect(await good.verify()).toMatchObject({
      valid: false, first_bad: { writer: bad.writer, position: 7, reason: expect.stringMatching(/altered/) },
      chains: expect.arrayContaining([{ writer: good.writer, checked: 1, last: 6, valid: true }, { writer: bad.writer, checked: 7, last: 6, valid: false }]),
    });
  });
});

// ————————————————————————————————————————————————————————————————————————————————————————————
// Decisions in the store and the log; GET /admin/audit
// ————————————————————————————————————————————————————————————————————————————————————————————

describe.each(STORE_KINDS)('audit trail: decisions stored and logged, queried through GET /admin/audit (%s store)', (kind) => {
  const MANDATE_AUD = 'https://mandate.example';
  let t: TestApp;
  let idp: TestIdp;
  let ccJti: string;
  let hop2Jti: string;

  const all = async (): Promise<StoredEvent[]> => {
    const res = await admin(t).get('/admin/audit', { limit: '200' }).expect(200);
    expect(res.body.next_cursor).toBeNull();
    return res.body.items as StoredEvent[];
  };
  const ids = (events: readonly { id: string }[]) => events.map((e) => e.id);
  const query = async (q: Record<string, string>): Promise<StoredEvent[]> => {
    const res = await admin(t).get('/admin/audit', { limit: '200', ...q }).expect(200);
    return res.body.items as StoredEvent[];
  };

  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: kind, policy: exchangePolicy(idp, MANDATE_AUD) });
    // Phases a few milliseconds apart, so that a time between them splits the trail.
    const cc = await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:read' }, 'q-cc').expect(200);
    ccJti = claimsOf(cc.body.access_token as string).jti as string;
    await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:book' }, 'q-cc-refused').expect(400);
    await pause(5);
    const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).set('x-request-id', 'q-hop1').expect(200);
    const hop2 = await exchange(t, 'agent-b', { subject_token: hop1.body.access_token as string, resource: TRAVEL }).set('x-request-id', 'q-hop2').expect(200);
    hop2Jti = claimsOf(hop2.body.access_token as string).jti as string;
    await pause(5);
    await revoke(t, 'travel-app', cc.body.access_token as string).set('x-request-id', 'q-revoke').expect(200);
    await admin(t).post('/admin/agents', { ...agentBody('q-agent') }).set('x-request-id', 'q-created').expect(201);
    await admin(t).patch('/admin/agents/q-agent', { status: 'suspended' }).set('x-request-id', 'q-suspended').expect(200);
  });
  afterAll(() => t.close());

  it('each decision is an event in the store and a log line "audit":true with the same id and content', async () => {
    const events = await all();
    const logged = auditLogged(t.logs);
    const one = (match: (e: AuditEvent) => boolean): StoredEvent => {
      const found = events.filter(match);
      expect(found).toHaveLength(1);
      const [event] = found;
      const { trail, ...plain } = event!;
      expect(trail).toEqual({ writer: t.audit.writer, position: expect.any(Number) });
      expect(logged.filter((e) => e.id === event!.id)).toEqual([plain]);
      return event!;
    };
    expect(one((e) => e.request_id === 'q-cc')).toMatchObject({
      type: 'token.issued', outcome: 'success', client_id: 'travel-app', subject: { iss: t.issuer, sub: 'travel-app' }, audience: TRAVEL, scope: 'trips:read', jti: ccJti,
    });
    expect(one((e) => e.request_id === 'q-cc-refused')).toMatchObject({ type: 'token.refused', outcome: 'failure', client_id: 'travel-app', reason: 'invalid_scope', scope: 'trips:book' });
    expect(one((e) => e.type === 'token.revoked' && e.jti === ccJti)).toMatchObject({ outcome: 'success', client_id: 'travel-app', reason: 'revoked by its client', request_id: 'q-revoke' });
    expect(one((e) => e.request_id === 'q-hop2')).toMatchObject({ type: 'token.issued', client_id: 'agent-b', actors: ['agent-b', 'agent-a'], jti: hop2Jti, delegation_id: 'alice-a' });
    expect(one((e) => e.request_id === 'q-created')).toMatchObject({ type: 'agent.created', outcome: 'success', client_id: 'q-agent' });
    expect(one((e) => e.request_id === 'q-suspended')).toMatchObject({ type: 'agent.suspended', outcome: 'success', client_id: 'q-agent', reason: 'admin' });
    // Nothing logged that is not stored, nothing stored that was not logged.
    expect(ids(events).sort()).toEqual(ids(logged).sort());
    expect(await verifyApi(t)).toMatchObject({ valid: true, checked: events.length });
  });

  it('filters: subject, agent (as client or anywhere in the actor chain), jti, type (exact and family.*)', async () => {
    const events = await all();
    const expectFilter = async (q: Record<string, string>, match: (e: StoredEvent) => boolean): Promise<StoredEvent[]> => {
      const expected = events.filter(match);
      expect(expected.length).toBeGreaterThan(0);
      expect(expected.length).toBeLessThan(events.length);
      const got = await query(q);
      expect({ q, ids: ids(got) }).toEqual({ q, ids: ids(expected) });
      return got;
    };
    await expectFilter({ subject: 'alice' }, (e) => e.subject?.sub === 'alice');
    const byA = await expectFilter({ agent: 'agent-a' }, (e) => e.client_id === 'agent-a' || (e.actors ?? []).includes('agent-a'));
    // agent-a as an actor of agent-b's token, not as its client.
    expect(byA.map((e) => e.jti)).toContain(hop2Jti);
    await expectFilter({ agent: 'q-agent' }, (e) => e.client_id === 'q-agent');
    const byJti = await expectFilter({ jti: ccJti }, (e) => e.jti === ccJti);
    expect(byJti.map((e) => e.type)).toEqual(['token.revoked', 'token.issued']);
    const issued = await expectFilter({ type: 'token.issued' }, (e) => e.type === 'token.issued');
    const family = await expectFilter({ type: 'token.*' }, (e) => e.type.startsWith('token.'));
    expect(new Set(family.map((e) => e.type))).toEqual(new Set(['token.issued', 'token.refused', 'token.revoked']));
    expect(family.length).toBeGreaterThan(issued.length);
    await expectFilter({ type: 'agent.*', agent: 'q-agent' }, (e) => e.type.startsWith('agent.') && e.client_id === 'q-agent');
    await expectFilter({ agent: 'agent-b', type: 'token.issued', subject: 'alice' },
      (e) => (e.client_id === 'agent-b' || (e.actors ?? []).includes('agent-b')) && e.type === 'token.issued' && e.subject?.sub === 'alice');
    expect(await query({ agent: 'nobody' })).toEqual([]);
    expect(await query({ type: 'token' })).toEqual([]);
  });

  it('filters: since (inclusive) and until (exclusive)', async () => {
    const events = await all();
    const hop2 = events.find((e) => e.jti === hop2Jti && e.type === 'token.issued')!;
    const since = await query({ since: hop2.time });
    const until = await query({ until: hop2.time });
    expect(ids(since)).toEqual(ids(events.filter((e) => e.time >= hop2.time)));
    expect(ids(until)).toEqual(ids(events.filter((e) => e.time < hop2.time)));
    expect(ids(since)).toContain(hop2.id);
    expect(until.length).toBeGreaterThan(0);
    expect(since.length + until.length).toBe(events.length);
    const first = events.at(-1)!;
    const window = await query({ since: first.time, until: hop2.time, agent: 'travel-app' });
    expect(ids(window)).toEqual(ids(events.filter((e) => e.time >= first.time && e.time < hop2.time && e.client_id === 'travel-app')));
    expect(window.length).toBeGreaterThan(0);
  });

  it('cursor paging returns every event exactly once, newest first', async () => {
    const events = await all();
    for (const [q, limit] of [[{}, 3], [{ type: 'token.*' }, 1]] as const) {
      const seen: StoredEvent[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await admin(t).get('/admin/audit', { ...q, limit: String(limit), ...(cursor ? { cursor } : {}) }).expect(200);
        const page = res.body as { items: StoredEvent[]; next_cursor: string | null };
        expect(page.items.length).toBeLessThanOrEqual(limit);
        if (page.next_cursor !== null) expect(page.items).toHaveLength(limit);
        seen.push(...page.items);
        cursor = page.next_cursor;
        pages += 1;
      } while (cursor !== null && pages < 100);
      const expected = events.filter((e) => !('type' in q) || e.type.startsWith('token.'));
      expect(pages).toBeGreaterThanOrEqual(2);
      expect(ids(seen)).toEqual(ids(expected));
      expect(new Set(ids(seen)).size).toBe(seen.length);
      for (let i = 1; i < seen.length; i += 1) expect(seen[i - 1]!.time >= seen[i]!.time).toBe(true);
    }
    expect(new Set(events.map((e) => `${e.trail.writer} ${e.trail.position}`)).size).toBe(events.length);
  });

  it('400 for a bad cursor, a bad since, since >= until, an unknown parameter; 401 without the admin token', async () => {
    const events = await all();
    const time = events[0]!.time;
    const cases: [Record<string, string>, string][] = [
      [{ cursor: '!!' }, 'cursor'],
      [{ cursor: 'AAAA' }, 'cursor'],
      [{ cursor: Buffer.from(JSON.stringify(['x', 1, 'y'])).toString('base64url') }, 'cursor'],
      [{ since: 'yesterday' }, 'since'],
      [{ until: '2030-13-01T00:00:00Z' }, 'until'],
      [{ since: time, until: time }, 'until'],
      [{ since: '2030-01-02T00:00:00Z', until: '2030-01-01T00:00:00Z' }, 'until'],
      [{ colour: 'red' }, 'colour'],
      [{ type: 'token.' }, 'type'],
      [{ limit: '0' }, 'limit'],
    ];
    for (const [q, field] of cases) {
      const res = await admin(t).get('/admin/audit', q);
      expect({ q, status: res.status, body: res.body as unknown }).toEqual({ q, status: 400, body: expect.objectContaining({ error: 'invalid_request', field }) });
    }
    for (const path of ['/admin/audit', '/admin/audit/verify', `/admin/audit/trace/${hop2Jti}`]) {
      const none = await request(t.server).get(path);
      expect({ path, status: none.status, body: none.body as unknown }).toEqual({ path, status: 401, body: { error: 'unauthorized' } });
      const wrong = await request(t.server).get(path).set('Authorization', `Bearer ${ADMIN_TOKEN}x`);
      expect({ path, status: wrong.status }).toEqual({ path, status: 401 });
    }
  });

  it('an event that could not be stored is not logged as an audit event; the request fails (503) or is refused without it', async () => {
    const chain = auditChainKey(t.audit.writer);
    const forge = async (): Promise<number> => {
      // Another writer appended to this chain behind the app's back: the app's next append conflicts.
      const last = (await t.store.lastLogEntry(chain))!;
      await t.store.writeBatch([{ op: 'append', key: chain, position: last.position + 1, prev: last.link, link: 'forged-link', body: '{"forged":true}' }]);
      return last.position + 1;
    };
    const forgedAt = await forge();
    const failed = await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:read' }, 'q-unstored');
    expect({ status: failed.status, body: failed.body as unknown }).toEqual({ status: 503, body: { error: 'temporarily_unavailable', error_description: expect.any(String) } });

    // The writer learns where its chain ends and goes on: the next decision is stored and logged.
    const after = await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:read' }, 'q-after').expect(200);
    const afterEvents = await query({ jti: claimsOf(after.body.access_token as string).jti as string });
    expect(afterEvents).toEqual([expect.objectContaining({ type: 'token.issued', request_id: 'q-after', trail: { writer: t.audit.writer, position: forgedAt + 1 } })]);
    expect(auditLogged(t.logs).filter((e) => e.id === afterEvents[0]!.id)).toHaveLength(1);

    await forge();
    // A refusal stays a refusal; its event is simply not stored, and so not logged.
    await clientCredentials(t, 'travel-app', { resource: TRAVEL, scope: 'trips:book' }, 'q-unstored-refusal').expect(400);

    const lines = logLines(t.logs);
    for (const [requestId, type] of [['q-unstored', 'token.issued'], ['q-unstored-refusal', 'token.refused']] as const) {
      expect(lines.filter((l) => l.audit === true && l.event?.request_id === requestId)).toEqual([]);
      expect(lines.filter((l) => l.msg === 'audit event not stored' && l.request_id === requestId)).toEqual([expect.objectContaining({ audit_unstored: [type] })]);
    }
    const events = await all();
    expect(events.filter((e) => e.request_id === 'q-unstored' || e.request_id === 'q-unstored-refusal')).toEqual([]);

    // The forged entry is what verification names.
    expect(await verifyApi(t)).toMatchObject({ valid: false, first_bad: { writer: t.audit.writer, position: forgedAt, reason: 'the entry is unreadable' } });
  });
});

describe.each(STORE_KINDS)('audit trail checkpoints name the chains that moved (%s store)', (kind) => {
  it('a writer\'s checkpoint records its own end and every other chain that moved since its last one, not dead ones again', async () => {
    const store = await makeStore(kind);
    try {
      const keys = new AuditKeys([{ kid: 'cp', secret: randomBytes(32), created_at: new Date().toISOString() }]);
      const a = new AuditTrail({ store, keys, logger: createLogger('silent') });
      const b = new AuditTrail({ store, keys, logger: createLogger('silent') });
      const event = { type: 'test.event', outcome: 'success' } as const;
      const headsOfNewest = async (): Promise<Record<string, number>> => {
        const bodies = (await store.setMembers(auditCheckpointsKey())).map((raw) => openSealed<CheckpointBody>(keys, raw, 'checkpoint')!);
        const newest = bodies.sort((x, y) => x.time.localeCompare(y.time)).at(-1)!;
        return Object.fromEntries(Object.entries(newest.heads).map(([w, h]) => [w, h.n]));
      };
      await a.record(event);
      await b.record([event, event]);
      expect(await a.checkpoint()).toBe(true);
      expect(await headsOfNewest()).toEqual({ [a.writer]: 1, [b.writer]: 2 });
      // Nothing appended by a since: no checkpoint.
      expect(await a.checkpoint()).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await a.record(event);
      expect(await a.checkpoint()).toBe(true);
      expect(await headsOfNewest()).toEqual({ [a.writer]: 2 });
      await new Promise((resolve) => setTimeout(resolve, 5));
      await b.record(event);
      await a.record(event);
      expect(await a.checkpoint()).toBe(true);
      expect(await headsOfNewest()).toEqual({ [a.writer]: 3, [b.writer]: 3 });
      expect(await a.verify()).toMatchObject({ valid: true, checked: 6, checkpoints: 3 });
    } finally {
      await store.close();
    }
  });

  it('startCheckpoints signs a checkpoint on its interval once the writer has appended, and stops when told', async () => {
    const store = await makeStore(kind);
    try {
      const keys = new AuditKeys([{ kid: 'timer', secret: randomBytes(32), created_at: new Date().toISOString() }]);
      const a = new AuditTrail({ store, keys, logger: createLogger('silent'), checkpointSeconds: 0.05 });
      const stop = a.startCheckpoints();
      const count = async (): Promise<number> => (await store.setMembers(auditCheckpointsKey())).length;
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await count()).toBe(0);
      await a.record({ type: 'test.event', outcome: 'success' });
      for (let waited = 0; (await count()) === 0 && waited < 2000; waited += 25) await new Promise((resolve) => setTimeout(resolve, 25));
      stop();
      expect(await count()).toBe(1);
      await a.record({ type: 'test.event', outcome: 'success' });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await count()).toBe(1);
    } finally {
      await store.close();
    }
  });
});

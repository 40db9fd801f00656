import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { generateKey } from '../../src/keys/keystore.js';
import { generateAuditKey } from '../../src/audit/audit-keys.js';
import { buildDist, runServer, startServer } from '../support/spawn.js';
import { freePort, testRedisUrl } from '../support/redis.js';

describe('start-up refusals: one clear message, exit 1, no stack trace', () => {
  let dir: string;
  let keysDir: string;
  beforeAll(async () => {
    await buildDist();
    dir = await mkdtemp(join(tmpdir(), 'mandate-startup-'));
    keysDir = join(dir, 'keys');
    await generateKey(keysDir, 'ES256');
    await generateAuditKey(keysDir);
  }, 120_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const expectRefusal = async (env: Record<string, string>, message: string | RegExp): Promise<void> => {
    const result = await runServer({ MANDATE_KEYS_DIR: keysDir, ...env });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  };

  it('a bad policy file names the key, the value and what is expected', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'resources:\n  - { uri: https://api.example, name: API, scopes: [a] }\nagents:\n  - { id: a1, name: A, owner: nobody, tier: 7, auth: { method: client_secret_basic, secret_env: A1 } }\n');
    await expectRefusal({ MANDATE_CONFIG: file }, /agents\[0\]\.tier = 7: expected/);
  });

  it('a reference to a missing user names it', async () => {
    const file = join(dir, 'ref.yaml');
    await writeFile(file, 'resources:\n  - { uri: https://api.example, name: API, scopes: [a] }\nusers: []\nagents:\n  - { id: a1, name: A, owner: nobody, tier: 1, auth: { method: client_secret_basic, secret_env: A1 } }\n');
    await expectRefusal({ MANDATE_CONFIG: file }, 'agents[0].owner = "nobody": expected the id of a user in `users`');
  });

  it('a misspelt key, invalid YAML and a missing file are each named', async () => {
    const typo = join(dir, 'typo.yaml');
    await writeFile(typo, 'resources:\n  - { uri: https://api.example, name: API, scopes: [a] }\nlimits: { max_delegaton_depth: 2 }\n');
    await expectRefusal({ MANDATE_CONFIG: typo }, 'limits.max_delegaton_depth: unknown key');
    const broken = join(dir, 'broken.yaml');
    await writeFile(broken, 'resources: [\n');
    await expectRefusal({ MANDATE_CONFIG: broken }, /not valid YAML or JSON/);
    await expectRefusal({ MANDATE_CONFIG: join(dir, 'missing.yaml') }, /MANDATE_CONFIG=".*missing.yaml": cannot read the policy file \(ENOENT\)/);
  });

  it('a bad env value is named', async () => {
    await expectRefusal({ PORT: 'eighty' }, 'PORT="eighty": expected an integer from 0 to 65535');
    await expectRefusal({ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud": expected one of/);
  });

  it('production without REDIS_URL', async () => {
    await expectRefusal({ NODE_ENV: 'production', MANDATE_ISSUER: 'https://auth.example.com' }, /REDIS_URL is unset: NODE_ENV=production needs Redis/);
  });

  it('production with an http: issuer that is not localhost', async () => {
    await expectRefusal({ NODE_ENV: 'production', REDIS_URL: testRedisUrl(), MANDATE_ISSUER: 'http://auth.example.com' }, 'MANDATE_ISSUER="http://auth.example.com": expected an https: URL when NODE_ENV=production');
  });

  it('production without keys in the keys folder', async () => {
    const empty = join(dir, 'empty-keys');
    await expectRefusal({
      NODE_ENV: 'production', REDIS_URL: testRedisUrl(), MANDATE_ISSUER: 'https://auth.example.com', MANDATE_KEYS_DIR: empty,
      TRAVEL_APP_SECRET: 'x'.repeat(32), TRAVEL_API_SECRET: 'y'.repeat(32), TRAVEL_AGENT_SECRET: 'z'.repeat(32),
    }, /no signing keys in .*empty-keys/);
  });

  it('production without an audit key in the keys folder', async () => {
    const noAudit = join(dir, 'no-audit-keys');
    await generateKey(noAudit, 'ES256');
    await expectRefusal({
      NODE_ENV: 'production', REDIS_URL: testRedisUrl(), MANDATE_ISSUER: 'https://auth.example.com', MANDATE_KEYS_DIR: noAudit,
      TRAVEL_APP_SECRET: 'x'.repeat(32), TRAVEL_API_SECRET: 'y'.repeat(32), TRAVEL_AGENT_SECRET: 'z'.repeat(32),
    }, /no audit key in .*no-audit-keys\/audit: run "npm run keys -- generate"/);
  });

  it('production refuses the benchmark switch that turns off audit storage', async () => {
    await expectRefusal({
      NODE_ENV: 'production', REDIS_URL: testRedisUrl(), MANDATE_ISSUER: 'https://auth.example.com', MANDATE_BENCH_SKIP_AUDIT: '1',
    }, 'MANDATE_BENCH_SKIP_AUDIT=1 turns off the audit trail for benchmarks: it is refused when NODE_ENV=production');
  });

  it('production without a client secret in the environment', async () => {
    await expectRefusal({ NODE_ENV: 'production', REDIS_URL: testRedisUrl(), MANDATE_ISSUER: 'https://auth.example.com' }, 'TRAVEL_APP_SECRET is unset: expected the client secret of travel-app when NODE_ENV=production');
  });

  it('production with everything in place starts, and SIGTERM drains and exits 0', async () => {
    const port = await freePort();
    const child = startServer({
      NODE_ENV: 'production', REDIS_URL: testRedisUrl(), MANDATE_ISSUER: 'https://auth.example.com', MANDATE_KEYS_DIR: keysDir, PORT: String(port),
      TRAVEL_APP_SECRET: 'x'.repeat(32), TRAVEL_API_SECRET: 'y'.repeat(32), TRAVEL_AGENT_SECRET: 'z'.repeat(32),
    });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

    const expectServesAndDrains = async (): Promise<void> => {
      const deadline = Date.now() + 10_000;
      let discovery: Response | undefined;
      while (Date.now() < deadline && !discovery) {
        discovery = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`).catch(() => undefined);
        if (!discovery) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(discovery?.status).toBe(200);
      const metadata = (await discovery!.json()) as Record<string, string>;
      expect(metadata.issuer).toBe('https://auth.example.com');
      // Endpoints are the issuer's even when reached through another address.
      expect(metadata.token_endpoint).toBe('https://auth.example.com/token');
      expect(metadata.jwks_uri).toBe('https://auth.example.com/jwks');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as { msg: string });
      expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['mandate listening', 'shutting down: no new connections, draining', 'stopped']));
    };
    try {
      await expectServesAndDrains();
    } finally {
      child.kill('SIGKILL'); // a failed assertion must not leave the server running
    }
  }, 30_000);

  it('MANDATE_WORKERS=2 serves from two processes sharing Redis, and SIGTERM stops them all', async () => {
    const port = await freePort();
    const child = startServer({ REDIS_URL: testRedisUrl(), MANDATE_KEYS_DIR: keysDir, PORT: String(port), MANDATE_WORKERS: '2' });
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const listening = (): number[] => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { msg: string; pid: number })
      .filter((l) => l.msg === 'mandate listening').map((l) => l.pid);
    try {
      const deadline = Date.now() + 15_000;
      while (listening().length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(new Set(listening()).size).toBe(2);

      // Tokens issued by either worker introspect at either worker: all state is in Redis.
      const basic = (id: string): string => `Basic ${Buffer.from(`${id}:${id}-dev-secret`).toString('base64')}`;
      for (let i = 0; i < 4; i += 1) {
        const issued = await fetch(`http://127.0.0.1:${port}/token`, {
          method: 'POST', headers: { authorization: basic('travel-app'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials',
        });
        expect(issued.status).toBe(200);
        const { access_token: accessToken } = (await issued.json()) as { access_token: string };
        for (let j = 0; j < 2; j += 1) {
          const introspected = await fetch(`http://127.0.0.1:${port}/token/introspection`, {
            method: 'POST', headers: { authorization: basic('travel-api'), 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${accessToken}`,
          });
          expect(((await introspected.json()) as { active: boolean }).active).toBe(true);
        }
      }
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout.split('\n').filter((line) => line.includes('"msg":"stopped"'))).toHaveLength(2);
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);
});

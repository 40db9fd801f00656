import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, errors, exportJWK, jwtVerify, SignJWT } from 'jose';
import type { JWK } from 'jose';
import { runKeysCli, USAGE } from '../../src/keys/cli-main.js';
import { generateKey, KeyStore, KeyStoreError, listKeys, rotateKeys, SIGNING_ALGS } from '../../src/keys/keystore.js';

type Fields = Record<string, unknown>;

const RETENTION_SECONDS = 960;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

let dir: string;
let clock: number;
const now = (): number => clock;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-keys-'));
  clock = Date.parse('2030-01-01T00:00:00Z');
});

afterEach(() => rm(dir, { recursive: true, force: true }));

const open = (generateIfEmpty = true): Promise<KeyStore> =>
  KeyStore.open(dir, { generateIfEmpty, retentionSeconds: RETENTION_SECONDS, now });

async function signWith(store: KeyStore): Promise<string> {
  const { kid, alg, key } = store.signingKey();
  return new SignJWT({ sub: 'agent-1' }).setProtectedHeader({ alg, kid }).sign(key);
}

const verifyWith = (store: KeyStore, token: string) => jwtVerify(token, createLocalJWKSet(store.publicJwks()));
const keyFiles = async (): Promise<string[]> => (await readdir(dir)).filter((name) => name.endsWith('.json'));

describe('KeyStore.open', () => {
  it('generates one ES256 key in a 0600 file named after its kid when the folder is empty', async () => {
    const store = await open();
    const { kid, alg } = store.signingKey();
    expect(alg).toBe('ES256');
    expect(await keyFiles()).toEqual([`${kid}.json`]);
    expect((await stat(join(dir, `${kid}.json`))).mode & 0o777).toBe(0o600);
    const file = JSON.parse(await readFile(join(dir, `${kid}.json`), 'utf8')) as Fields;
    expect(file).toMatchObject({ kid, alg: 'ES256', created_at: '2030-01-01T00:00:00.000Z', private_jwk: { kty: 'EC', crv: 'P-256' } });
    expect(file).not.toHaveProperty('retired_at');
    // oidc-provider is configured with the signing key as a private JWK exported from it.
    const exported = await exportJWK(store.signingKey().key);
    expect(exported.d).toBeDefined();
    expect(await calculateJwkThumbprint(exported)).toBe(kid);
  });

  it('refuses an empty folder when generateIfEmpty is false', async () => {
    const attempt = open(false);
    await expect(attempt).rejects.toBeInstanceOf(KeyStoreError);
    await expect(attempt).rejects.toThrow(`no signing keys in ${dir}: run "npm run keys -- generate"`);
    await expect(KeyStore.open(join(dir, 'missing'), { generateIfEmpty: false, retentionSeconds: 1 })).rejects.toMatchObject({ code: 'ERR_KEYS_EMPTY' });
  });

  it('reads key files whose mode is looser than 0600', async () => {
    const { kid } = await generateKey(dir);
    await chmod(join(dir, `${kid}.json`), 0o644);
    expect((await open(false)).signingKey().kid).toBe(kid);
  });
});

describe.each(SIGNING_ALGS)('%s keys', (alg) => {
  it('sign tokens that verify against the published JWKS, which holds no private member', async () => {
    await generateKey(dir, alg);
    const store = await open(false);
    expect(store.signingKey().alg).toBe(alg);
    const { payload, protectedHeader } = await verifyWith(store, await signWith(store));
    expect(payload.sub).toBe('agent-1');
    expect(protectedHeader.kid).toBe(store.signingKey().kid);
    const [jwk] = store.publicJwks().keys as [JWK];
    expect(jwk).toMatchObject({ kid: store.signingKey().kid, alg, use: 'sig' });
    for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
  });
});

it('generates RSA 3072 keys on request', async () => {
  await generateKey(dir, 'PS256', { modulusLength: 3072 });
  const [jwk] = (await open(false)).publicJwks().keys as [JWK];
  expect(Buffer.from(jwk.n ?? '', 'base64url')).toHaveLength(384);
});

describe('rotation', () => {
  it('keeps tokens of the retired key verifiable until the retention window ends', async () => {
    const store = await open();
    const oldKid = store.signingKey().kid;
    const oldToken = await signWith(store);

    clock += 1000;
    const rotation = await rotateKeys(dir, 'EdDSA', { retentionSeconds: RETENTION_SECONDS, now });
    expect(rotation).toMatchObject({ retired: [oldKid], deleted: [] });
    await store.reload();
    expect(store.signingKey()).toMatchObject({ kid: rotation.created.kid, alg: 'EdDSA' });
    expect(store.signingKey().kid).not.toBe(oldKid);
    expect(store.publicJwks().keys.map((jwk) => jwk.kid).sort()).toEqual([oldKid, rotation.created.kid].sort());
    await expect(verifyWith(store, oldToken)).resolves.toBeDefined();
    expect(decodeProtectedHeader(await signWith(store)).kid).toBe(rotation.created.kid);

    clock += RETENTION_SECONDS * 1000 - 1;
    expect(store.verificationKey(oldKid)).toBeDefined();
    clock += 1;
    expect(store.verificationKey(oldKid)).toBeUndefined();
    expect(store.publicJwks().keys.map((jwk) => jwk.kid)).toEqual([rotation.created.kid]);
    await expect(verifyWith(store, oldToken)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  });

  it('deletes keys whose retention window is over on the next rotation, and lists states', async () => {
    const first = await generateKey(dir, 'ES256', { now });
    clock += 1000;
    const second = (await rotateKeys(dir, 'ES256', { retentionSeconds: 10, now })).created;
    const retention = { retentionSeconds: 10, now };
    expect((await listKeys(dir, retention)).map((k) => [k.kid, k.state])).toEqual([[second.kid, 'signing'], [first.kid, 'published']]);
    clock += 10_000;
    const listed = await listKeys(dir, retention);
    expect(listed[1]).toEqual({ ...first, retired_at: '2030-01-01T00:00:01.000Z', state: 'expired' });
    expect(JSON.stringify(listed)).not.toContain('private_jwk');

    const third = await rotateKeys(dir, 'ES256', retention);
    expect(third).toMatchObject({ retired: [second.kid], deleted: [first.kid] });
    expect((await keyFiles()).sort()).toEqual([`${second.kid}.json`, `${third.created.kid}.json`].sort());
  });
});

describe('reload and watch', () => {
  it('watch picks up a rotation made by another process and keeps the keys when a reload fails', async () => {
    const store = await open();
    const errorsSeen: unknown[] = [];
    const stop = store.watch(5, (error) => errorsSeen.push(error));
    try {
      clock += 1000;
      const { created } = await rotateKeys(dir, 'ES256', { retentionSeconds: RETENTION_SECONDS, now });
      await waitFor(() => store.signingKey().kid === created.kid);

      await writeFile(join(dir, 'broken.json'), '{', { mode: 0o600 });
      await waitFor(() => errorsSeen.length > 0);
      expect(errorsSeen[0]).toBeInstanceOf(KeyStoreError);
      expect(store.signingKey().kid).toBe(created.kid);
      await expect(verifyWith(store, await signWith(store))).resolves.toBeDefined();
    } finally {
      stop();
    }
  });
});

describe('corrupt key files', () => {
  it.each([
    ['not JSON', (): string => '{ "kid": '],
    ['a missing private key', (file: Fields) => JSON.stringify({ ...file, private_jwk: { kty: 'EC' } })],
    ['a kid that is not the thumbprint', (file: Fields) => JSON.stringify({ ...file, kid: 'someone-elses' })],
    ['a key of the wrong type', (file: Fields) => JSON.stringify({ ...file, alg: 'RS256' })],
  ])('are reported by name: %s', async (_case, corrupt) => {
    const { kid } = await generateKey(dir);
    const path = join(dir, `${kid}.json`);
    await writeFile(path, corrupt(JSON.parse(await readFile(path, 'utf8')) as Fields));
    const attempt = open(false);
    await expect(attempt).rejects.toBeInstanceOf(KeyStoreError);
    await expect(attempt).rejects.toThrow(path);
  });
});

describe('keys CLI', () => {
  const run = async (...argv: string[]) => {
    const out = { stdout: '', stderr: '' };
    const write = (stream: 'stdout' | 'stderr') => ({ write: (text: string) => (out[stream] += text) });
    const code = await runKeysCli(argv, { stdout: write('stdout'), stderr: write('stderr'), env: { MANDATE_KEYS_DIR: dir } });
    return { code, ...out };
  };

  it('generates into MANDATE_KEYS_DIR, lists the kid in a table and rotates', async () => {
    const generated = await run('generate', '--alg', 'EdDSA');
    expect(generated.code).toBe(0);
    const [kid] = (await keyFiles()).map((name) => name.replace(/\.json$/, ''));
    const [auditKid] = (await readdir(join(dir, 'audit'))).map((name) => name.replace(/\.json$/, ''));
    expect(generated.stdout).toBe(`generated EdDSA key ${kid} in ${dir}\ngenerated audit key ${auditKid} in ${dir}/audit\n`);

    const listed = await run('list', '--dir', dir);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(/^KID\s+ALG\s+STATE\s+CREATED\s+RETIRED\n/);
    expect(listed.stdout).toContain(`${kid}  EdDSA  signing`);

    const rotated = await run('rotate');
    expect(rotated).toMatchObject({ code: 0, stderr: '' });
    expect(rotated.stdout).toContain(`retired (still published for 960 s): ${kid}\n`);
    // Another generate adds a signing key but keeps the one audit key; audit-key adds one. adds a signing key but keeps the one audit key.
    expect((await run('generate')).stdout).not.toContain('audit key');
    const added = await run('audit-key');
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(await readdir(join(dir, 'audit'))).toHaveLength(2);

  });

  it.each([
    [['bogus'], 'unknown command "bogus"'],
    [[], 'missing command'],
    [['generate', '--alg', 'HS256'], 'unknown algorithm "HS256"'],
    [['list', '--retention', 'soon'], '--retention must be a whole number of seconds, got "soon"'],
  ])('answers %j with exit code 1 and the usage line', async (argv, reason) => {
    expect(await run(...argv)).toEqual({ code: 1, stdout: '', stderr: `${reason}\n${USAGE}\n` });
  });

  it('reports a corrupt key file without a stack trace', async () => {
    await writeFile(join(dir, 'bad.json'), 'nope');
    const listed = await run('list');
    expect(listed).toMatchObject({ code: 1, stdout: '' });
    expect(listed.stderr).toBe(`error: key file ${join(dir, 'bad.json')} is unreadable or corrupt: not valid JSON\n`);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

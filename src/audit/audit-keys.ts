import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { KeyStoreError } from '../keys/key-file.js';

/**
 * The audit trail's secret keys: HMAC-SHA256 keys in `<keys folder>/audit/<kid>.json` (mode 0600),
 * shared by every process like the signing keys. Every link of the trail and every checkpoint and
 * anchor is a MAC under one of them, so someone who can write to Redis but cannot read this folder
 * cannot forge, insert or re-link an event. The newest key seals; all of them verify.
 */
export interface AuditKey {
  kid: string;
  secret: Buffer;
  created_at: string;
}

export class AuditKeys {
  readonly #byKid: Map<string, AuditKey>;
  readonly current: AuditKey;

  constructor(keys: readonly AuditKey[]) {
    if (keys.length === 0) throw new KeyStoreError('ERR_KEYS_EMPTY', 'no audit key');
    this.#byKid = new Map(keys.map((key) => [key.kid, key]));
    this.current = [...keys].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.kid.localeCompare(b.kid)).at(-1)!;
  }

  get(kid: string): AuditKey | undefined {
    return this.#byKid.get(kid);
  }
}

export function auditKeyDir(keysDir: string): string {
  return join(keysDir, 'audit');
}

/** Reads the audit keys; with `generateIfEmpty` (development, `npm run keys -- generate`) creates the first one. */
export async function openAuditKeys(keysDir: string, options: { generateIfEmpty: boolean }): Promise<AuditKeys> {
  let keys = await readAuditKeys(keysDir);
  if (keys.length === 0 && options.generateIfEmpty) {
    await generateAuditKey(keysDir, { onlyIfNone: true });
    keys = await readAuditKeys(keysDir);
  }
  if (keys.length === 0) {
    throw new KeyStoreError('ERR_KEYS_EMPTY', `no audit key in ${auditKeyDir(keysDir)}: run "npm run keys -- generate" (it adds one when missing)`);
  }
  return new AuditKeys(keys);
}

/**
 * Writes a new audit key (kid = first 16 hex digits of SHA-256 of the secret). With `onlyIfNone`,
 * does nothing when a key exists: two processes starting at once end up with one key or two valid
 * ones, never a half-written file (written under a temp name, then linked into place whole).
 */
export async function generateAuditKey(keysDir: string, options: { onlyIfNone?: boolean } = {}): Promise<AuditKey | undefined> {
  const dir = auditKeyDir(keysDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (options.onlyIfNone && (await readAuditKeys(keysDir)).length > 0) return undefined;
  const secret = randomBytes(32);
  const key: AuditKey = { kid: createHash('sha256').update(secret).digest('hex').slice(0, 16), secret, created_at: new Date().toISOString() };
  const body = JSON.stringify({ kid: key.kid, created_at: key.created_at, secret: secret.toString('base64url') }, null, 2);
  const temp = join(dir, `.${key.kid}.${process.pid}.tmp`);
  await writeFile(temp, `${body}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(temp, join(dir, `${key.kid}.json`));
  } finally {
    await rm(temp, { force: true });
  }
  return key;
}

async function readAuditKeys(keysDir: string): Promise<AuditKey[]> {
  const dir = auditKeyDir(keysDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new KeyStoreError('ERR_KEYS_DIR', `cannot read audit key folder ${dir}: ${(err as Error).message}`);
  }
  return Promise.all(names.filter((name) => name.endsWith('.json')).sort().map(async (name) => {
    const path = join(dir, name);
    const fail = (why: string): never => { throw new KeyStoreError('ERR_KEY_FILE', `audit key file ${path} is unreadable or corrupt: ${why}`); };
    let data: { kid?: unknown; created_at?: unknown; secret?: unknown };
    try {
      data = JSON.parse(await readFile(path, 'utf8')) as typeof data;
    } catch (err) {
      return fail((err as Error).message);
    }
    if (typeof data.kid !== 'string' || typeof data.created_at !== 'string' || typeof data.secret !== 'string') return fail('expected kid, created_at and secret');
    const secret = Buffer.from(data.secret, 'base64url');
    if (secret.length < 32) return fail('the secret must be at least 32 bytes');
    if (`${data.kid}.json` !== name) return fail(`the file name must be ${data.kid}.json`);
    return { kid: data.kid, created_at: data.created_at, secret };
  }));
}

/** The operations behind `npm run keys`: they change the key folder; KeyStore only reads it. */

import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { readKeyFiles, writeKeyFile } from './key-file.js';
import type { KeyFile, SigningAlg } from './key-file.js';

/**
 * signing: the newest non-retired key, the one new tokens are signed with.
 * published: in the JWKS so that tokens it signed still verify (retired less than the retention
 * window ago, or an older key that was never retired). expired: out of the JWKS, deleted on rotate.
 */
export type KeyState = 'signing' | 'published' | 'expired';

export interface KeyMetadata {
  kid: string;
  alg: SigningAlg;
  created_at: string;
  retired_at?: string;
}

export interface KeyInfo extends KeyMetadata {
  state: KeyState;
}

export interface ClockOptions {
  /** Milliseconds since the epoch, like Date.now (the default); tests move time with it. */
  now?: () => number;
}

export interface RetentionOptions extends ClockOptions {
  /** How long a retired key stays published: the longest token lifetime plus clock skew. */
  retentionSeconds: number;
}

export interface GenerateOptions extends ClockOptions {
  /** RSA modulus for RS256 / PS256 (default 2048); ignored for the other algorithms. */
  modulusLength?: 2048 | 3072;
}

export interface RotationResult {
  created: KeyMetadata;
  retired: string[];
  deleted: string[];
}

export const isExpired = (key: KeyMetadata, retentionSeconds: number, nowMs: number): boolean =>
  key.retired_at !== undefined && Date.parse(key.retired_at) + retentionSeconds * 1000 <= nowMs;

export function newestActive(files: KeyFile[]): KeyFile | undefined {
  const active = files.filter((file) => file.retired_at === undefined);
  // The kid breaks ties so that every server reading the same folder picks the same key.
  return active.sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || a.kid.localeCompare(b.kid))[0];
}

export async function generateKey(dir: string, alg: SigningAlg = 'ES256', options: GenerateOptions = {}): Promise<KeyMetadata> {
  const isRsa = alg === 'RS256' || alg === 'PS256';
  const pair = await generateKeyPair(alg, { extractable: true, ...(isRsa ? { modulusLength: options.modulusLength ?? 2048 } : {}) });
  const kid = await calculateJwkThumbprint(await exportJWK(pair.publicKey));
  const file: KeyFile = { kid, alg, created_at: new Date((options.now ?? Date.now)()).toISOString(), private_jwk: await exportJWK(pair.privateKey) };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeKeyFile(dir, file);
  return { kid, alg, created_at: file.created_at };
}

/**
 * New key first, then retire the old ones: a server reloading in between sees two active keys and
 * signs with the newer, never none. Every file is validated before anything changes.
 */
export async function rotateKeys(dir: string, alg: SigningAlg = 'ES256', options: RetentionOptions & GenerateOptions): Promise<RotationResult> {
  const nowMs = (options.now ?? Date.now)();
  const existing = await readKeyFiles(dir);
  const created = await generateKey(dir, alg, options);
  const retired = existing.filter((file) => file.retired_at === undefined);
  for (const file of retired) await writeKeyFile(dir, { ...file, retired_at: new Date(nowMs).toISOString() });
  const expired = existing.filter((file) => isExpired(file, options.retentionSeconds, nowMs));
  for (const file of expired) await unlink(join(dir, `${file.kid}.json`));
  return { created, retired: retired.map((file) => file.kid), deleted: expired.map((file) => file.kid) };
}

/** Metadata of every key, newest first; never private material. */
export async function listKeys(dir: string, options: RetentionOptions): Promise<KeyInfo[]> {
  const files = await readKeyFiles(dir);
  const nowMs = (options.now ?? Date.now)();
  const signing = newestActive(files);
  return files
    .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at))
    .map(({ kid, alg, created_at, retired_at }) => {
      const key: KeyMetadata = { kid, alg, created_at, ...(retired_at === undefined ? {} : { retired_at }) };
      const expired = isExpired(key, options.retentionSeconds, nowMs);
      return { ...key, state: kid === signing?.kid ? 'signing' : expired ? 'expired' : 'published' };
    });
}

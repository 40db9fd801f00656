/** The on-disk format of one signing key: `<dir>/<kid>.json`, mode 0600. */

import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import type { JWK } from 'jose';

export const SIGNING_ALGS = ['ES256', 'EdDSA', 'RS256', 'PS256'] as const;
export type SigningAlg = (typeof SIGNING_ALGS)[number];

export const isSigningAlg = (value: unknown): value is SigningAlg => SIGNING_ALGS.some((alg) => alg === value);

export type KeyStoreErrorCode =
  | 'ERR_KEYS_EMPTY' // the folder holds no key files
  | 'ERR_KEYS_NO_ACTIVE' // every key is retired, so nothing may sign
  | 'ERR_KEYS_DIR' // the folder exists but cannot be listed
  | 'ERR_KEY_FILE'; // one key file is unreadable or corrupt; the message names it

export class KeyStoreError extends Error {
  readonly code: KeyStoreErrorCode;

  constructor(code: KeyStoreErrorCode, message: string) {
    super(message);
    this.name = 'KeyStoreError';
    this.code = code;
  }
}

export interface KeyFile {
  kid: string;
  alg: SigningAlg;
  created_at: string;
  retired_at?: string;
  private_jwk: JWK;
}

/** The key type each algorithm needs; a file whose JWK disagrees is corrupt, not merely odd. */
const KEY_TYPE: Record<SigningAlg, { kty: string; crv?: string }> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  RS256: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
};

/**
 * Public members per key type. An allowlist rather than a list of private members to strip, so
 * that a member we did not think of (`oth`, `k`, a future one) can never reach the JWKS.
 */
const PUBLIC_MEMBERS: Record<string, readonly (keyof JWK)[]> = {
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
  RSA: ['kty', 'n', 'e'],
};

export function publicJwk(privateJwk: JWK): JWK {
  const members = PUBLIC_MEMBERS[privateJwk.kty ?? ''] ?? [];
  return Object.fromEntries(members.filter((m) => privateJwk[m] !== undefined).map((m) => [m, privateJwk[m]]));
}

export function keyFileError(path: string, reason: string): KeyStoreError {
  return new KeyStoreError('ERR_KEY_FILE', `key file ${path} is unreadable or corrupt: ${reason}`);
}

export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

const isIsoDate = (value: unknown): value is string => typeof value === 'string' && !Number.isNaN(Date.parse(value));

function hasKeyFileShape(value: unknown): value is KeyFile {
  if (typeof value !== 'object' || value === null) return false;
  const file = value as Record<string, unknown>;
  const jwk = file.private_jwk;
  return (
    typeof file.kid === 'string' &&
    isSigningAlg(file.alg) &&
    isIsoDate(file.created_at) &&
    (file.retired_at === undefined || isIsoDate(file.retired_at)) &&
    typeof jwk === 'object' &&
    jwk !== null &&
    typeof (jwk as Record<string, unknown>).d === 'string'
  );
}

async function readKeyFile(path: string): Promise<KeyFile> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw keyFileError(path, err instanceof SyntaxError ? 'not valid JSON' : errorMessage(err));
  }
  if (!hasKeyFileShape(data)) throw keyFileError(path, 'expected { kid, alg, created_at, retired_at?, private_jwk }');
  const expected = KEY_TYPE[data.alg];
  if (data.private_jwk.kty !== expected.kty || data.private_jwk.crv !== expected.crv) {
    throw keyFileError(path, `private_jwk is not an ${data.alg} key`);
  }
  // The kid is what tokens name; a hand-edited file whose kid no longer matches its key would
  // publish a JWKS entry that verifies nothing, so refuse it here rather than at verify time.
  const thumbprint = await calculateJwkThumbprint(publicJwk(data.private_jwk)).catch(() => undefined);
  if (thumbprint !== data.kid || basename(path) !== `${data.kid}.json`) {
    throw keyFileError(path, 'kid does not match the key thumbprint or the file name');
  }
  return data;
}

/** Every key file in `dir`; a missing folder is an empty one. Other files (.gitkeep, temp files) are ignored. */
export async function readKeyFiles(dir: string): Promise<KeyFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new KeyStoreError('ERR_KEYS_DIR', `cannot read key folder ${dir}: ${errorMessage(err)}`);
  }
  const files = names.filter((name) => name.endsWith('.json')).sort();
  return Promise.all(files.map((name) => readKeyFile(join(dir, name))));
}

/**
 * Writes through a temp file and a rename so that a server reloading the folder while the CLI
 * rotates never reads half a file. The temp name does not end in `.json`, so readers skip it.
 * A stale temp file is removed first because `mode` only applies to a file being created.
 */
export async function writeKeyFile(dir: string, file: KeyFile): Promise<void> {
  const { kid, alg, created_at, retired_at, private_jwk } = file;
  const temp = join(dir, `.${kid}.${process.pid}.tmp`);
  const body = JSON.stringify({ kid, alg, created_at, retired_at, private_jwk }, null, 2);
  await rm(temp, { force: true });
  await writeFile(temp, `${body}\n`, { mode: 0o600, flag: 'wx' });
  await rename(temp, join(dir, `${kid}.json`));
}

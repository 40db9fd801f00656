import { join } from 'node:path';
import { importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { generateKey, isExpired, newestActive } from './key-admin.js';
import type { RetentionOptions } from './key-admin.js';
import { errorMessage, keyFileError, KeyStoreError, publicJwk, readKeyFiles } from './key-file.js';
import type { KeyFile, SigningAlg } from './key-file.js';

export { generateKey, listKeys, rotateKeys } from './key-admin.js';
export type { ClockOptions, GenerateOptions, KeyInfo, KeyMetadata, KeyState, RetentionOptions, RotationResult } from './key-admin.js';
export { KeyStoreError, SIGNING_ALGS, isSigningAlg } from './key-file.js';
export type { KeyStoreErrorCode, SigningAlg } from './key-file.js';

export interface KeyStoreOptions extends RetentionOptions {
  /** Generate a key when the folder has none (development); otherwise refuse to start. */
  generateIfEmpty: boolean;
  /** Algorithm of a key generated on an empty folder (default ES256). */
  alg?: SigningAlg;
}

export interface LoadedKey {
  kid: string;
  alg: SigningAlg;
  key: CryptoKey;
}

interface PublishedKey extends LoadedKey {
  /** Milliseconds since the epoch after which the key leaves the JWKS; undefined while active. */
  expiresAt?: number;
  jwk: JWK;
}

interface Snapshot {
  signing: LoadedKey;
  published: PublishedKey[];
}

async function importKey(dir: string, file: KeyFile, jwk: JWK): Promise<CryptoKey> {
  // Extractable because oidc-provider takes its signing keys as JWKs (src/oidc/provider.ts exports
  // this one); the private JWK is in this process's memory and on disk either way.
  const key = await importJWK(jwk, file.alg, { extractable: true }).catch((err: unknown) => {
    throw keyFileError(join(dir, `${file.kid}.json`), errorMessage(err));
  });
  // importJWK returns bytes only for symmetric ("oct") keys, which the file checks already reject.
  if (key instanceof Uint8Array) throw keyFileError(join(dir, `${file.kid}.json`), 'not an asymmetric key');
  return key;
}

async function loadSnapshot(dir: string, retentionSeconds: number, nowMs: number): Promise<Snapshot> {
  const files = await readKeyFiles(dir);
  if (files.length === 0) throw new KeyStoreError('ERR_KEYS_EMPTY', `no signing keys in ${dir}: run "npm run keys -- generate"`);
  const signing = newestActive(files);
  if (!signing) throw new KeyStoreError('ERR_KEYS_NO_ACTIVE', `every key in ${dir} is retired: run "npm run keys -- rotate"`);
  const live = files.filter((file) => !isExpired(file, retentionSeconds, nowMs));
  const published = await Promise.all(
    live.map(async (file): Promise<PublishedKey> => {
      const jwk: JWK = { ...publicJwk(file.private_jwk), kid: file.kid, alg: file.alg, use: 'sig' };
      const expiresAt = file.retired_at === undefined ? undefined : Date.parse(file.retired_at) + retentionSeconds * 1000;
      return { kid: file.kid, alg: file.alg, key: await importKey(dir, file, jwk), jwk, ...(expiresAt === undefined ? {} : { expiresAt }) };
    }),
  );
  return { signing: { kid: signing.kid, alg: signing.alg, key: await importKey(dir, signing, signing.private_jwk) }, published };
}

/** The keys a running server signs and verifies with, re-read from the folder on reload(). */
export class KeyStore {
  readonly #dir: string;
  readonly #retentionSeconds: number;
  readonly #now: () => number;
  #snapshot: Snapshot;
  /** Reloads run one after another so that a slow, older read never overwrites a newer one. */
  #lastReload: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, options: KeyStoreOptions, snapshot: Snapshot) {
    this.#dir = dir;
    this.#retentionSeconds = options.retentionSeconds;
    this.#now = options.now ?? Date.now;
    this.#snapshot = snapshot;
  }

  static async open(dir: string, options: KeyStoreOptions): Promise<KeyStore> {
    if (!Number.isFinite(options.retentionSeconds) || options.retentionSeconds < 0) {
      throw new RangeError(`retentionSeconds must be a non-negative number, got ${options.retentionSeconds}`);
    }
    const now = options.now ?? Date.now;
    if (options.generateIfEmpty && (await readKeyFiles(dir)).length === 0) await generateKey(dir, options.alg ?? 'ES256', { now });
    return new KeyStore(dir, options, await loadSnapshot(dir, options.retentionSeconds, now()));
  }

  signingKey(): LoadedKey {
    return { ...this.#snapshot.signing };
  }

  /** Public keys only: built from an allowlist of public members, see publicJwk(). */
  publicJwks(): { keys: JWK[] } {
    return { keys: this.#live().map((key) => ({ ...key.jwk })) };
  }

  /** The public key for `kid`, or undefined when it is unknown or its retention window is over. */
  verificationKey(kid: string): LoadedKey | undefined {
    const found = this.#live().find((key) => key.kid === kid);
    return found && { kid: found.kid, alg: found.alg, key: found.key };
  }

  /** Re-reads the folder; on any error the keys in use stay as they were. */
  reload(): Promise<void> {
    const next = this.#lastReload.then(async () => {
      this.#snapshot = await loadSnapshot(this.#dir, this.#retentionSeconds, this.#now());
    });
    this.#lastReload = next.catch(() => undefined);
    return next;
  }

  /** Polls the folder so a rotation by the CLI reaches a running server; returns the stop function. */
  watch(intervalMs: number, onError?: (error: unknown) => void): () => void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      this.reload()
        .catch((err: unknown) => onError?.(err))
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  #live(): PublishedKey[] {
    const nowMs = this.#now();
    return this.#snapshot.published.filter((key) => key.expiresAt === undefined || key.expiresAt > nowMs);
  }
}

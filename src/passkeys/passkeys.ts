import { randomBytes } from 'node:crypto';

import type { AuthenticatorTransportFuture } from '@simplewebauthn/server';

import { passkeyKey, userHandleKey, userPasskeysKey } from '../store/keys.js';
import type { Store } from '../store/store.js';

/**
 * A user's passkeys (WebAuthn credentials). Records are durable: a passkey stays until an
 * administrator removes it. The counter is only ever moved forward with a compare-and-set, so two
 * ceremonies with the same credential cannot both pass the regression check.
 */
export interface PasskeyRecord {
  /** Credential id, base64url (what the browser returns as `id`). */
  id: string;
  user_id: string;
  /** COSE public key, base64url. */
  public_key: string;
  counter: number;
  transports: AuthenticatorTransportFuture[];
  /** Backup eligible: a synced (multi-device) passkey. */
  backup_eligible: boolean;
  backed_up: boolean;
  /** Authenticator model (AAGUID), when the authenticator tells. */
  aaguid?: string;
  created_at: string;
  last_used_at?: string;
}

/** Longest credential id accepted (WebAuthn allows 1023 bytes: 1364 base64url characters). */
const MAX_CREDENTIAL_ID_CHARS = 1364;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export const isCredentialId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_CREDENTIAL_ID_CHARS && BASE64URL.test(value);

export class Passkeys {
  constructor(private readonly store: Store) {}

  /**
   * The user's WebAuthn user handle: 32 random bytes, created once. Random rather than the user
   * id, so that an authenticator never holds a name (WebAuthn section 14.6.1).
   */
  async userHandle(userId: string): Promise<string> {
    const key = userHandleKey(userId);
    const existing = await this.store.get(key);
    if (existing !== null) return existing;
    const handle = randomBytes(32).toString('base64url');
    if (await this.store.set(key, handle, { ttlSeconds: null, onlyIfAbsent: true })) return handle;
    return (await this.store.get(key))!;
  }

  /** Stores a new passkey; false when the credential id is already registered (to anyone). */
  async add(record: PasskeyRecord): Promise<boolean> {
    if (!(await this.store.set(passkeyKey(record.id), JSON.stringify(record), { ttlSeconds: null, onlyIfAbsent: true }))) return false;
    await this.store.addToSet(userPasskeysKey(record.user_id), record.id, null);
    return true;
  }

  async get(credentialId: string): Promise<PasskeyRecord | undefined> {
    if (!isCredentialId(credentialId)) return undefined;
    const raw = await this.store.get(passkeyKey(credentialId));
    return raw === null ? undefined : (JSON.parse(raw) as PasskeyRecord);
  }

  /** A user's passkeys, oldest first. */
  async list(userId: string): Promise<PasskeyRecord[]> {
    const ids = await this.store.setMembers(userPasskeysKey(userId));
    if (ids.length === 0) return [];
    const raws = await this.store.getMany(ids.map(passkeyKey));
    return raws.flatMap((raw) => (raw === null ? [] : [JSON.parse(raw) as PasskeyRecord]))
      .filter((p) => p.user_id === userId)
      .sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1));
  }

  async count(userId: string): Promise<number> {
    return this.store.setSize(userPasskeysKey(userId));
  }

  /** Removes one of a user's passkeys and returns it; undefined when the user has no such passkey. */
  async remove(userId: string, credentialId: string): Promise<PasskeyRecord | undefined> {
    const record = await this.get(credentialId);
    if (!record || record.user_id !== userId) return undefined;
    await this.store.removeFromSet(userPasskeysKey(userId), credentialId);
    return (await this.store.delete(passkeyKey(credentialId))) === 1 ? record : undefined;
  }

  /**
   * Moves the counter to `counter` and stamps the use, only if the record is still what the
   * ceremony verified against: a concurrent use of the same credential makes this false.
   */
  async recordUse(before: PasskeyRecord, counter: number, backedUp: boolean, at: string): Promise<boolean> {
    const after: PasskeyRecord = { ...before, counter, backed_up: backedUp, last_used_at: at };
    return this.store.compareAndSet(passkeyKey(before.id), JSON.stringify(before), JSON.stringify(after));
  }
}

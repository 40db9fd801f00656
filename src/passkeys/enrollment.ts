import { createHash, randomBytes } from 'node:crypto';

import { enrollmentKey } from '../store/keys.js';
import type { Store } from '../store/store.js';

/**
 * Passkey enrollment links (`/enroll/{token}`): created by an administrator for one user, valid
 * until they expire or a passkey is registered through them, whichever comes first. Only a
 * digest of the token is stored, so a copy of the store cannot enroll anyone.
 */
export interface Enrollment {
  user_id: string;
  /** Epoch seconds. */
  expires_at: number;
  /** SHA-256 of the token: binds registration challenges to this link. */
  digest: string;
}

const TOKEN = /^[A-Za-z0-9_-]{43}$/;
const digestOf = (token: string): string => createHash('sha256').update(token).digest('base64url');

export class Enrollments {
  constructor(
    private readonly store: Store,
    private readonly issuer: string,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  async create(userId: string, ttlSeconds: number): Promise<{ url: string; expires_at: string }> {
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + ttlSeconds;
    const record: Omit<Enrollment, 'digest'> = { user_id: userId, expires_at: expiresAt };
    await this.store.set(enrollmentKey(digestOf(token)), JSON.stringify(record), { ttlSeconds, onlyIfAbsent: true });
    return { url: `${this.issuer}/enroll/${token}`, expires_at: new Date(expiresAt * 1000).toISOString() };
  }

  /** The link's enrollment while it is valid; undefined for a malformed, unknown, used or expired token. */
  async find(token: string): Promise<Enrollment | undefined> {
    if (!TOKEN.test(token)) return undefined;
    const digest = digestOf(token);
    const raw = await this.store.get(enrollmentKey(digest));
    if (raw === null) return undefined;
    const record = JSON.parse(raw) as Omit<Enrollment, 'digest'>;
    return record.expires_at > this.now() ? { ...record, digest } : undefined;
  }

  /** Uses the link up; false when another request used it first. */
  async consume(enrollment: Enrollment): Promise<boolean> {
    return (await this.store.delete(enrollmentKey(enrollment.digest))) === 1;
  }
}

import { createHash, randomBytes } from 'node:crypto';

import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON, type RegistrationResponseJSON,
} from '@simplewebauthn/server';

import { MandateError } from '../errors.js';
import { challengeKey } from '../store/keys.js';
import type { Store } from '../store/store.js';
import { isCredentialId, type PasskeyRecord, type Passkeys } from './passkeys.js';

/**
 * The two WebAuthn ceremonies (enrollment and step-up), with Mandate's rules on top of
 * @simplewebauthn/server's verification:
 * - every challenge is stored, single-use and lives at most 5 minutes;
 * - a step-up challenge is bound to one approval, one action and the hash of the approval's
 *   exact content: its last 16 bytes are derived from them, so the authenticator signs over them;
 * - origin and RP ID are exactly the configured ones, and cross-origin (iframe) ceremonies fail;
 * - user verification is required in the options and in the verification;
 * - the credential must belong to the expected user (`id` and, when sent, `userHandle`);
 * - the counter never goes back (0 with 0 is accepted for synced passkeys) and is moved forward
 *   with a compare-and-set.
 */
export interface RelyingParty {
  rpId: string;
  rpName: string;
  origins: string[];
}

/** Upper bound on a challenge's life (seconds). */
export const CHALLENGE_TTL_SECONDS = 300;

export type Ceremony =
  | { purpose: 'enroll'; user_id: string; enrollment: string }
  | { purpose: 'approve' | 'deny'; user_id: string; approval_id: string; approval_hash: string };

type ChallengeRecord = Ceremony & { expires_at: number };

/** A ceremony refused: 400 `invalid_request` whose description says what failed. */
export class CeremonyError extends MandateError {
  constructor(description: string, status = 400, error = 'invalid_request') {
    super(status, error, description);
    this.name = 'CeremonyError';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The derived half of a step-up challenge: what the authenticator's signature commits to. */
function binding(ceremony: Ceremony): Buffer {
  const text = ceremony.purpose === 'enroll'
    ? `mandate enroll\0${ceremony.user_id}\0${ceremony.enrollment}`
    : `mandate ${ceremony.purpose}\0${ceremony.approval_id}\0${ceremony.approval_hash}`;
  return createHash('sha256').update(text).digest().subarray(0, 16);
}

/** Shape checks before anything is decoded: the browser's JSON is untrusted input. */
function credentialJson(value: unknown, kind: 'attestation' | 'assertion'): { id: string; response: Record<string, unknown> } {
  if (!isObject(value)) throw new CeremonyError('credential must be a JSON object (PublicKeyCredential.toJSON())');
  const { id, rawId, type, response } = value;
  if (!isCredentialId(id) || rawId !== id) throw new CeremonyError('credential id and rawId must be the same base64url string');
  if (type !== 'public-key') throw new CeremonyError('credential type must be public-key');
  if (!isObject(response)) throw new CeremonyError('credential response must be an object');
  const fields = kind === 'attestation' ? ['clientDataJSON', 'attestationObject'] : ['clientDataJSON', 'authenticatorData', 'signature'];
  for (const field of fields) {
    if (typeof response[field] !== 'string' || response[field] === '') throw new CeremonyError(`credential response.${field} must be a base64url string`);
  }
  if (response.userHandle !== undefined && response.userHandle !== null && typeof response.userHandle !== 'string') {
    throw new CeremonyError('credential response.userHandle must be a base64url string');
  }
  return { id, response };
}

/**
 * What the browser says it answered, read once from clientDataJSON: the challenge, and whether
 * the ceremony ran cross-origin (in a frame). @simplewebauthn/server does not check the latter.
 */
function clientDataOf(response: Record<string, unknown>): { challenge: string; crossOrigin: boolean } {
  try {
    const clientData = JSON.parse(Buffer.from(response.clientDataJSON as string, 'base64url').toString('utf8')) as unknown;
    if (isObject(clientData) && typeof clientData.challenge === 'string' && clientData.challenge.length > 0 && clientData.challenge.length <= 128) {
      return { challenge: clientData.challenge, crossOrigin: clientData.crossOrigin === true || clientData.topOrigin !== undefined };
    }
  } catch {
    // fall through
  }
  throw new CeremonyError('credential response.clientDataJSON is not valid client data');
}

/** Runs @simplewebauthn/server's verification; what it throws (origin, RP ID, UV, counter…) becomes a 400 naming it. */
async function verifying<T>(verify: () => Promise<T>): Promise<T> {
  try {
    return await verify();
  } catch (err) {
    throw new CeremonyError(`passkey verification failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export interface VerifiedAssertion {
  passkey: PasskeyRecord;
  /** Epoch seconds of the verified user gesture. */
  authTime: number;
}

export class WebAuthn {
  constructor(
    private readonly store: Store,
    private readonly passkeys: Passkeys,
    readonly rp: RelyingParty,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /** Options for navigator.credentials.create: user verification required, resident key preferred. */
  async registrationOptions(user: { id: string; name: string; email?: string }, ceremony: Extract<Ceremony, { purpose: 'enroll' }>, ttlSeconds = CHALLENGE_TTL_SECONDS): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.passkeys.list(user.id);
    const challenge = await this.#newChallenge(ceremony, ttlSeconds);
    return generateRegistrationOptions({
      rpName: this.rp.rpName,
      rpID: this.rp.rpId,
      userName: user.email ?? user.id,
      userDisplayName: user.name,
      userID: Buffer.from(await this.passkeys.userHandle(user.id), 'base64url'),
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: Math.min(ttlSeconds, CHALLENGE_TTL_SECONDS) * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
      authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
      supportedAlgorithmIDs: [-7, -8, -257],
    });
  }

  /** Verifies navigator.credentials.create's answer and stores the new passkey. */
  async register(credential: unknown, expect: (ceremony: Ceremony) => string | undefined): Promise<PasskeyRecord> {
    const { response } = credentialJson(credential, 'attestation');
    const { challenge, ceremony } = await this.#consume(clientDataOf(response), expect);
    if (ceremony.purpose !== 'enroll') throw new CeremonyError('this challenge was not issued for an enrollment');
    const verified = await verifying(() => verifyRegistrationResponse({
      response: credential as RegistrationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: this.rp.origins,
      expectedRPID: this.rp.rpId,
      requireUserVerification: true,
    }));
    if (!verified.verified) throw new CeremonyError('passkey verification failed: the attestation does not verify');
    const info = verified.registrationInfo;
    const record: PasskeyRecord = {
      id: info.credential.id,
      user_id: ceremony.user_id,
      public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      transports: info.credential.transports ?? [],
      backup_eligible: info.credentialDeviceType === 'multiDevice',
      backed_up: info.credentialBackedUp,
      ...(info.aaguid && info.aaguid !== '00000000-0000-0000-0000-000000000000' ? { aaguid: info.aaguid } : {}),
      created_at: new Date(this.now() * 1000).toISOString(),
    };
    if (!(await this.passkeys.add(record))) throw new CeremonyError('this passkey is already registered', 409, 'conflict');
    return record;
  }

  /** Removes a passkey registered by a ceremony whose outcome was then refused. */
  async forget(passkey: PasskeyRecord): Promise<void> {
    await this.passkeys.remove(passkey.user_id, passkey.id);
  }

  /** Options for navigator.credentials.get, limited to the user's passkeys. */
  async authenticationOptions(userId: string, ceremony: Exclude<Ceremony, { purpose: 'enroll' }>, ttlSeconds = CHALLENGE_TTL_SECONDS): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const passkeys = await this.passkeys.list(userId);
    if (passkeys.length === 0) throw new CeremonyError(`user ${userId} has no passkey enrolled`);
    const challenge = await this.#newChallenge(ceremony, ttlSeconds);
    return generateAuthenticationOptions({
      rpID: this.rp.rpId,
      challenge: Buffer.from(challenge, 'base64url'),
      timeout: Math.min(ttlSeconds, CHALLENGE_TTL_SECONDS) * 1000,
      allowCredentials: passkeys.map((p) => ({ id: p.id, transports: p.transports })),
      userVerification: 'required',
    });
  }

  /**
   * Verifies navigator.credentials.get's answer. `expect` checks what the challenge was issued
   * for and returns a problem, if any; the credential must be a passkey of that ceremony's user.
   */
  async assert(credential: unknown, expect: (ceremony: Ceremony) => string | undefined): Promise<VerifiedAssertion & { ceremony: Ceremony }> {
    const { id, response } = credentialJson(credential, 'assertion');
    const { challenge, ceremony } = await this.#consume(clientDataOf(response), expect);
    if (ceremony.purpose === 'enroll') throw new CeremonyError('this challenge was issued for an enrollment, not an approval');
    const passkey = await this.passkeys.get(id);
    if (!passkey || passkey.user_id !== ceremony.user_id) throw new CeremonyError(`this passkey does not belong to ${ceremony.user_id}, the approver`);
    if (typeof response.userHandle === 'string' && response.userHandle !== '' && response.userHandle !== await this.passkeys.userHandle(ceremony.user_id)) {
      throw new CeremonyError(`the passkey's user handle is not ${ceremony.user_id}'s`);
    }
    const verified = await verifying(() => verifyAuthenticationResponse({
      response: credential as AuthenticationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: this.rp.origins,
      expectedRPID: this.rp.rpId,
      credential: { id: passkey.id, publicKey: Buffer.from(passkey.public_key, 'base64url'), counter: passkey.counter, transports: passkey.transports },
      requireUserVerification: true,
    }));
    if (!verified.verified) throw new CeremonyError('passkey verification failed: the signature does not match the passkey');
    // @simplewebauthn/server already throws without UV (requireUserVerification); this keeps the rule local.
    if (!verified.authenticationInfo.userVerified) throw new CeremonyError('passkey verification failed: user verification is required');
    const authTime = this.now();
    const { newCounter, credentialBackedUp } = verified.authenticationInfo;
    if (!(await this.passkeys.recordUse(passkey, newCounter, credentialBackedUp, new Date(authTime * 1000).toISOString()))) {
      throw new CeremonyError('this passkey was used by another ceremony at the same moment; try again', 409, 'conflict');
    }
    return { passkey, authTime, ceremony };
  }

  async #newChallenge(ceremony: Ceremony, ttlSeconds: number): Promise<string> {
    const ttl = Math.max(1, Math.min(CHALLENGE_TTL_SECONDS, Math.floor(ttlSeconds)));
    const challenge = Buffer.concat([randomBytes(16), binding(ceremony)]).toString('base64url');
    const record: ChallengeRecord = { ...ceremony, expires_at: this.now() + ttl };
    await this.store.set(challengeKey(challenge), JSON.stringify(record), { ttlSeconds: ttl, onlyIfAbsent: true });
    return challenge;
  }

  /**
   * Takes a challenge out of the store (single use) and checks it is the one expected; a
   * cross-origin ceremony (from inside a frame) is refused whatever its origin says.
   */
  async #consume({ challenge, crossOrigin }: { challenge: string; crossOrigin: boolean }, expect: (ceremony: Ceremony) => string | undefined): Promise<{ challenge: string; ceremony: Ceremony }> {
    const problem = 'the challenge is unknown, expired or already used: ask for new options';
    if (!/^[A-Za-z0-9_-]{43}$/.test(challenge)) throw new CeremonyError(problem);
    const raw = await this.store.get(challengeKey(challenge));
    // Deleting is the claim: of two concurrent uses only one deletes the key.
    if (raw === null || (await this.store.delete(challengeKey(challenge))) === 0) throw new CeremonyError(problem);
    const { expires_at: expiresAt, ...ceremony } = JSON.parse(raw) as ChallengeRecord;
    if (expiresAt <= this.now()) throw new CeremonyError(problem);
    const mismatch = expect(ceremony);
    if (mismatch !== undefined) throw new CeremonyError(mismatch);
    if (!Buffer.from(challenge, 'base64url').subarray(16).equals(binding(ceremony))) throw new CeremonyError('the challenge is not bound to this request');
    if (crossOrigin) throw new CeremonyError('cross-origin passkey ceremonies are refused');
    return { challenge, ceremony };
  }
}

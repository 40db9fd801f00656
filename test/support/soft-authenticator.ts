/**
 * A software WebAuthn authenticator (plus the browser half of the ceremony) for tests.
 *
 * It produces REAL bytes: a fresh ES256 (P-256) key per credential, CBOR attestation objects with
 * 'none' attestation, authenticator data laid out as WebAuthn §6.1 prescribes and ECDSA/SHA-256
 * DER signatures over authenticatorData || SHA-256(clientDataJSON). Nothing on the verifying side
 * has to be stubbed: @simplewebauthn/server (or any conforming RP) verifies these responses as it
 * would a browser's. Built only on node:crypto.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

// ---------------------------------------------------------------------------------------------
// Minimal CBOR encoder (RFC 8949): just what WebAuthn needs. Definite lengths only; map entries
// are written in insertion order, so callers pass them already in CTAP2 canonical order.
// ---------------------------------------------------------------------------------------------

export type CborValue = number | bigint | string | boolean | null | Uint8Array | CborValue[] | Map<number | string, CborValue>;

function cborHead(major: number, length: number | bigint): Buffer {
  const n = BigInt(length);
  if (n < 0n) throw new RangeError('CBOR: negative length/argument');
  const mt = major << 5;
  if (n < 24n) return Buffer.from([mt | Number(n)]);
  if (n < 0x100n) return Buffer.from([mt | 24, Number(n)]);
  if (n < 0x10000n) {
    const b = Buffer.alloc(3);
    b[0] = mt | 25;
    b.writeUInt16BE(Number(n), 1);
    return b;
  }
  if (n < 0x100000000n) {
    const b = Buffer.alloc(5);
    b[0] = mt | 26;
    b.writeUInt32BE(Number(n), 1);
    return b;
  }
  if (n < 0x10000000000000000n) {
    const b = Buffer.alloc(9);
    b[0] = mt | 27;
    b.writeBigUInt64BE(n, 1);
    return b;
  }
  throw new RangeError('CBOR: integer out of 64-bit range');
}

/** Encodes ints (incl. negative), byte strings, text strings, arrays, maps (int/text keys), booleans, null. */
export function cborEncode(value: CborValue): Buffer {
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new TypeError(`CBOR: only integers are supported, got ${value}`);
    const n = BigInt(value);
    return n >= 0n ? cborHead(0, n) : cborHead(1, -1n - n);
  }
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, bytes.length), bytes]);
  }
  if (typeof value === 'boolean') return Buffer.from([value ? 0xf5 : 0xf4]);
  if (value === null) return Buffer.from([0xf6]);
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([cborHead(4, value.length), ...value.map(cborEncode)]);
  if (value instanceof Map) {
    const parts: Buffer[] = [cborHead(5, value.size)];
    for (const [k, v] of value) parts.push(cborEncode(k), cborEncode(v));
    return Buffer.concat(parts);
  }
  throw new TypeError(`CBOR: unsupported value ${String(value)}`);
}

// ---------------------------------------------------------------------------------------------
// Authenticator
// ---------------------------------------------------------------------------------------------

export interface SoftCredential {
  /** base64url credential id (32 random bytes). */
  id: string;
  /** base64url user handle, taken from options.user.id at registration. */
  userHandle: string;
  rpId: string;
  /** The counter value last emitted (0 right after registration). */
  signCount: number;
  privateKey: KeyObject;
  backupEligible: boolean;
  backedUp: boolean;
}

/** What a test may falsify in either ceremony. */
interface CeremonyOverrides {
  origin?: string;
  /** rpId hashed into authenticatorData (registration: bypasses the browser's rp.id-vs-origin check; assertion: the credential lookup still uses options.rpId / the default). */
  rpId?: string;
  userVerified?: boolean;
  userPresent?: boolean;
  challenge?: string;
  /** clientData type, default 'webauthn.create' / 'webauthn.get'. */
  type?: string;
  crossOrigin?: boolean;
  /** Registration: the initial counter; assertion: set the counter to exactly this before signing. */
  signCount?: number;
}

export interface RegisterOverrides extends CeremonyOverrides {
  backupEligible?: boolean;
  backedUp?: boolean;
}

export interface AssertOverrides extends CeremonyOverrides {
  /** Use this stored credential, regardless of rpId / allowCredentials. */
  credentialId?: string;
  /** null: omit userHandle from the response. Default: the credential's user handle. */
  userHandle?: string | null;
  /** Corrupt the signature (still well-formed DER) so that verification fails. */
  tamperSignature?: boolean;
}

export interface SoftAuthenticatorOptions {
  origin: string;
  /** Default: hostname of origin. */
  rpId?: string;
  /** true: counter always 0 like synced passkeys (credentials are then backup-eligible and backed up by default). */
  syncedCounter?: boolean;
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;
const COSE_ALG_ES256 = -7;

const b64u = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

function authenticatorData(rpId: string, flags: number, signCount: number, attested?: Buffer): Buffer {
  if (!Number.isInteger(signCount) || signCount < 0 || signCount > 0xffffffff) throw new RangeError(`signCount out of range: ${signCount}`);
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(signCount, 0);
  return Buffer.concat([sha256(rpId), Buffer.from([flags]), counter, ...(attested ? [attested] : [])]);
}

function clientDataJSON(type: string, challenge: string, origin: string, crossOrigin: boolean): Buffer {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin }), 'utf8');
}

/** COSE_Key for an EC2 P-256 public key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}. */
function coseEc2PublicKey(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (!jwk.x || !jwk.y) throw new Error('expected an EC public key');
  const x = Buffer.from(jwk.x, 'base64url');
  const y = Buffer.from(jwk.y, 'base64url');
  if (x.length !== 32 || y.length !== 32) throw new Error('expected 32-byte P-256 coordinates');
  return cborEncode(new Map<number, CborValue>([[1, 2], [3, COSE_ALG_ES256], [-1, 1], [-2, x], [-3, y]]));
}

function flagsOf(o: { userPresent: boolean; userVerified: boolean; backupEligible: boolean; backedUp: boolean; attested: boolean }): number {
  return (o.userPresent ? FLAG_UP : 0) | (o.userVerified ? FLAG_UV : 0) | (o.backupEligible ? FLAG_BE : 0) | (o.backedUp ? FLAG_BS : 0) | (o.attested ? FLAG_AT : 0);
}

/** The browser's check: rp.id must equal the origin's host or be a registrable suffix of it. */
function rpIdValidForOrigin(rpId: string, origin: string): boolean {
  const host = new URL(origin).hostname;
  return host === rpId || host.endsWith(`.${rpId}`);
}

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  readonly origin: string;
  readonly rpId: string;
  readonly syncedCounter: boolean;

  constructor(options: SoftAuthenticatorOptions) {
    this.origin = options.origin;
    this.rpId = options.rpId ?? new URL(options.origin).hostname;
    this.syncedCounter = options.syncedCounter ?? false;
  }

  /**
   * navigator.credentials.create equivalent: new ES256 (P-256) key, 'none' attestation, resident
   * key; returns the JSON the browser would POST. Throws (like the browser) when ES256 is not in
   * pubKeyCredParams, when options.rp.id does not fit the origin, or when a stored credential is
   * listed in excludeCredentials.
   */
  register(options: PublicKeyCredentialCreationOptionsJSON, overrides: RegisterOverrides = {}): RegistrationResponseJSON {
    const origin = overrides.origin ?? this.origin;
    const optionsRpId = options.rp.id ?? this.rpId;
    if (overrides.rpId === undefined && !rpIdValidForOrigin(optionsRpId, origin)) {
      throw new Error(`SoftAuthenticator.register: rp.id "${optionsRpId}" is not valid for origin "${origin}" (a browser would throw SecurityError)`);
    }
    const rpId = overrides.rpId ?? optionsRpId;
    if (!options.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === COSE_ALG_ES256)) {
      throw new Error('SoftAuthenticator.register: pubKeyCredParams does not allow ES256 (-7), the only algorithm this authenticator supports');
    }
    const excluded = new Set((options.excludeCredentials ?? []).map((c) => c.id));
    const clash = this.credentials.find((c) => c.rpId === optionsRpId && excluded.has(c.id));
    if (clash) {
      throw new Error(`SoftAuthenticator.register: credential ${clash.id} is in excludeCredentials (a browser would throw InvalidStateError)`);
    }

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const rawId = randomBytes(32);
    const backupEligible = overrides.backupEligible ?? this.syncedCounter;
    const backedUp = overrides.backedUp ?? this.syncedCounter;
    const signCount = overrides.signCount ?? 0;

    const credIdLen = Buffer.alloc(2);
    credIdLen.writeUInt16BE(rawId.length, 0);
    const attestedCredentialData = Buffer.concat([Buffer.alloc(16) /* AAGUID */, credIdLen, rawId, coseEc2PublicKey(publicKey)]);
    const flags = flagsOf({ userPresent: overrides.userPresent ?? true, userVerified: overrides.userVerified ?? true, backupEligible, backedUp, attested: true });
    const authData = authenticatorData(rpId, flags, signCount, attestedCredentialData);
    const attestationObject = cborEncode(new Map<string, CborValue>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    const cdj = clientDataJSON(overrides.type ?? 'webauthn.create', overrides.challenge ?? options.challenge, origin, overrides.crossOrigin ?? false);

    const id = b64u(rawId);
    this.credentials.push({ id, userHandle: options.user.id, rpId: optionsRpId, signCount, privateKey, backupEligible, backedUp });

    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(cdj),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
        publicKeyAlgorithm: COSE_ALG_ES256,
        publicKey: b64u(publicKey.export({ format: 'der', type: 'spki' })),
        authenticatorData: b64u(authData),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /**
   * navigator.credentials.get equivalent: picks the first stored credential for the rpId that is in
   * options.allowCredentials (or any for the rpId if allowCredentials is empty/absent), increments
   * its counter by 1 (unless syncedCounter or overrides.signCount), and signs
   * authenticatorData || sha256(clientDataJSON) with ECDSA P-256/SHA-256 (DER signature).
   * Throws if no credential matches.
   */
  assert(options: PublicKeyCredentialRequestOptionsJSON, overrides: AssertOverrides = {}): AuthenticationResponseJSON {
    const lookupRpId = options.rpId ?? this.rpId;
    let credential: SoftCredential | undefined;
    if (overrides.credentialId !== undefined) {
      credential = this.credentials.find((c) => c.id === overrides.credentialId);
      if (!credential) throw new Error(`SoftAuthenticator.assert: no stored credential with id ${overrides.credentialId}`);
    } else {
      const allowed = options.allowCredentials?.length ? new Set(options.allowCredentials.map((c) => c.id)) : undefined;
      credential = this.credentials.find((c) => c.rpId === lookupRpId && (!allowed || allowed.has(c.id)));
      if (!credential) {
        const which = allowed ? ` among allowCredentials [${[...allowed].join(', ')}]` : '';
        throw new Error(`SoftAuthenticator.assert: no stored credential for rpId "${lookupRpId}"${which} (${this.credentials.length} stored)`);
      }
    }

    if (overrides.signCount !== undefined) credential.signCount = overrides.signCount;
    else if (!this.syncedCounter) credential.signCount += 1;
    else credential.signCount = 0;

    const rpId = overrides.rpId ?? lookupRpId;
    const flags = flagsOf({
      userPresent: overrides.userPresent ?? true,
      userVerified: overrides.userVerified ?? true,
      backupEligible: credential.backupEligible,
      backedUp: credential.backedUp,
      attested: false,
    });
    const authData = authenticatorData(rpId, flags, credential.signCount);
    const cdj = clientDataJSON(overrides.type ?? 'webauthn.get', overrides.challenge ?? options.challenge, overrides.origin ?? this.origin, overrides.crossOrigin ?? false);
    // Node emits DER (ASN.1 SEQUENCE { r, s }) for EC keys by default, which is what WebAuthn ES256 wants.
    const signature = sign('sha256', Buffer.concat([authData, sha256(cdj)]), credential.privateKey);
    if (overrides.tamperSignature) signature[signature.length - 1] ^= 0x01; // flip a bit of s: DER stays parseable

    const userHandle = overrides.userHandle === undefined ? credential.userHandle : overrides.userHandle;
    return {
      id: credential.id,
      rawId: credential.id,
      type: 'public-key',
      response: {
        clientDataJSON: b64u(cdj),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }
}

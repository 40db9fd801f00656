import { createPublicKey, verify as nodeVerify, createHash } from 'node:crypto';

import { describe, expect, it } from '@jest/globals';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type WebAuthnCredential,
} from '@simplewebauthn/server';

import { SoftAuthenticator, cborEncode, type AssertOverrides, type RegisterOverrides } from '../support/soft-authenticator.js';

const ORIGIN = 'https://mandate.example';
const RP_ID = 'mandate.example';

const b64uToBuf = (s: string): Buffer => Buffer.from(s, 'base64url');

async function regOptions(extra: Partial<Parameters<typeof generateRegistrationOptions>[0]> = {}): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: 'Mandate',
    rpID: RP_ID,
    userName: 'alice@example.com',
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
    ...extra,
  });
}

async function verifyReg(soft: SoftAuthenticator, overrides?: RegisterOverrides, options?: PublicKeyCredentialCreationOptionsJSON) {
  const opts = options ?? await regOptions();
  const response = soft.register(opts, overrides);
  const result = await verifyRegistrationResponse({
    response,
    expectedChallenge: opts.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    requireUserVerification: true,
  });
  return { opts, response, result };
}

/** Registers a credential and returns what a server would store for it. */
async function enrolled(soft: SoftAuthenticator): Promise<{ credential: WebAuthnCredential; userId: string }> {
  const { opts, result } = await verifyReg(soft);
  if (!result.verified) throw new Error('registration did not verify');
  return { credential: { ...result.registrationInfo.credential }, userId: opts.user.id };
}

async function authenticate(soft: SoftAuthenticator, credential: WebAuthnCredential, overrides?: AssertOverrides) {
  const opts = await generateAuthenticationOptions({ rpID: RP_ID, userVerification: 'required', allowCredentials: [{ id: credential.id, transports: credential.transports }] });
  const response = soft.assert(opts, overrides);
  const run = () => verifyAuthenticationResponse({
    response,
    expectedChallenge: opts.challenge,
    expectedOrigin: ORIGIN,
    expectedRPID: RP_ID,
    credential,
    requireUserVerification: true,
  });
  return { opts, response, run };
}

describe('cborEncode', () => {
  it('matches RFC 8949 Appendix A vectors', () => {
    const hex = (v: Parameters<typeof cborEncode>[0]) => cborEncode(v).toString('hex');
    expect(hex(0)).toBe('00');
    expect(hex(23)).toBe('17');
    expect(hex(24)).toBe('1818');
    expect(hex(1000)).toBe('1903e8');
    expect(hex(1000000)).toBe('1a000f4240');
    expect(hex(1000000000000)).toBe('1b000000e8d4a51000');
    expect(hex(-1)).toBe('20');
    expect(hex(-7)).toBe('26');
    expect(hex(-100)).toBe('3863');
    expect(hex(-1000)).toBe('3903e7');
    expect(hex('')).toBe('60');
    expect(hex('IETF')).toBe('6449455446');
    expect(hex('\u00fc')).toBe('62c3bc');
    expect(hex(new Uint8Array([1, 2, 3, 4]))).toBe('4401020304');
    expect(hex([1, [2, 3], [4, 5]])).toBe('8301820203820405');
    expect(hex(new Map<number | string, number>([[1, 2], [3, 4]]))).toBe('a201020304');
    expect(hex(new Map<string, Parameters<typeof cborEncode>[0]>([['a', 1], ['b', [2, 3]]]))).toBe('a26161016162820203');
    expect(hex(new Map())).toBe('a0');
    expect(hex(true)).toBe('f5');
    expect(() => cborEncode(1.5)).toThrow(/integers/);
  });
});

describe('SoftAuthenticator registration', () => {
  it('produces a response that @simplewebauthn/server verifies: credential id, COSE public key, counter 0', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const { opts, response, result } = await verifyReg(soft);
    expect(result.verified).toBe(true);
    if (!result.verified) return;
    const info = result.registrationInfo;
    expect(info.fmt).toBe('none');
    expect(info.credential.id).toBe(response.id);
    expect(b64uToBuf(info.credential.id)).toHaveLength(32);
    expect(info.credential.counter).toBe(0);
    expect(info.credential.transports).toEqual(['internal']);
    expect(info.userVerified).toBe(true);
    expect(info.credentialDeviceType).toBe('singleDevice');
    expect(info.credentialBackedUp).toBe(false);
    expect(info.rpID).toBe(RP_ID);
    expect(info.aaguid).toBe('00000000-0000-0000-0000-000000000000');
    // COSE_Key bytes start with a 5-entry map {1: 2, 3: -7, -1: 1, -2: bstr(32), ...}
    expect(Buffer.from(info.credential.publicKey).subarray(0, 10).toString('hex')).toBe('a5' + '0102' + '0326' + '2001' + '215820');

    expect(soft.credentials).toHaveLength(1);
    expect(soft.credentials[0]).toMatchObject({ id: response.id, userHandle: opts.user.id, rpId: RP_ID, signCount: 0, backupEligible: false, backedUp: false });
    expect(response).toMatchObject({ rawId: response.id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {} });
    expect(response.response.publicKeyAlgorithm).toBe(-7);
  });

  it('lays out authenticatorData as sha256(rpId) || flags || counter || AAGUID || len || credId || COSE key', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const response = soft.register(await regOptions());
    const authData = b64uToBuf(response.response.authenticatorData!);
    expect(authData.subarray(0, 32)).toEqual(createHash('sha256').update(RP_ID).digest());
    expect(authData[32]).toBe(0x01 | 0x04 | 0x40); // UP | UV | AT
    expect(authData.readUInt32BE(33)).toBe(0);
    expect(authData.subarray(37, 53)).toEqual(Buffer.alloc(16));
    expect(authData.readUInt16BE(53)).toBe(32);
    expect(authData.subarray(55, 87).toString('base64url')).toBe(response.id);
    // The attestation object carries the very same authData, under fmt "none" with an empty attStmt.
    const attObj = b64uToBuf(response.response.attestationObject);
    // {"fmt": "none", "attStmt": {}, "authData": bstr(164)} — 164 = 37 + 16 + 2 + 32 + 77-byte COSE key
    const prefix = 'a3' + '63666d74' + '646e6f6e65' + '6761747453746d74' + 'a0' + '686175746844617461' + '58a4';
    expect(attObj.subarray(0, prefix.length / 2).toString('hex')).toBe(prefix);
    expect(attObj.subarray(attObj.length - authData.length)).toEqual(authData);
  });

  it.each<[string, RegisterOverrides, RegExp]>([
    ['wrong origin', { origin: 'https://evil.example' }, /origin/],
    ['wrong rpId', { rpId: 'evil.example' }, /RP ID/i],
    ['userVerified false', { userVerified: false }, /User verification/],
    ['userPresent false', { userPresent: false }, /User presence/],
    ['wrong challenge', { challenge: 'bm90LXRoZS1jaGFsbGVuZ2U' }, /challenge/],
    ['wrong clientData type', { type: 'webauthn.get' }, /type/],
    ['backed up but not backup-eligible', { backupEligible: false, backedUp: true }, /backed up/],
  ])('fails verification on %s', async (_name, overrides, message) => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    await expect(verifyReg(soft, overrides)).rejects.toThrow(message);
  });

  it('refuses like a browser: ES256 not offered, rp.id not matching the origin, excluded credential', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    expect(() => soft.register({ rp: { id: RP_ID, name: 'x' }, user: { id: 'dQ', name: 'u', displayName: 'u' }, challenge: 'Yw', pubKeyCredParams: [{ type: 'public-key', alg: -257 }] })).toThrow(/ES256/);
    expect(() => soft.register({ rp: { id: 'other.example', name: 'x' }, user: { id: 'dQ', name: 'u', displayName: 'u' }, challenge: 'Yw', pubKeyCredParams: [{ type: 'public-key', alg: -7 }] })).toThrow(/not valid for origin/);
    const first = soft.register(await regOptions());
    await expect(regOptions({ excludeCredentials: [{ id: first.id }] }).then((o) => soft.register(o))).rejects.toThrow(/excludeCredentials/);
    expect(soft.credentials).toHaveLength(1);
  });

  it('accepts an rp.id that is a registrable suffix of the origin host', async () => {
    const soft = new SoftAuthenticator({ origin: 'https://login.mandate.example' });
    const opts = await regOptions();
    const response = soft.register(opts);
    const result = await verifyRegistrationResponse({ response, expectedChallenge: opts.challenge, expectedOrigin: 'https://login.mandate.example', expectedRPID: RP_ID });
    expect(result.verified).toBe(true);
  });
});

describe('SoftAuthenticator assertion', () => {
  it('verifies against the stored credential and the counter increments each time', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const { credential, userId } = await enrolled(soft);

    const first = await authenticate(soft, credential);
    const r1 = await first.run();
    expect(r1.verified).toBe(true);
    expect(r1.authenticationInfo).toMatchObject({ newCounter: 1, credentialID: credential.id, userVerified: true, rpID: RP_ID, origin: ORIGIN, credentialDeviceType: 'singleDevice' });
    expect(first.response.response.userHandle).toBe(userId);
    expect(first.response).toMatchObject({ id: credential.id, rawId: credential.id, type: 'public-key', authenticatorAttachment: 'platform' });

    credential.counter = r1.authenticationInfo.newCounter;
    const r2 = await (await authenticate(soft, credential)).run();
    expect(r2.verified).toBe(true);
    expect(r2.authenticationInfo.newCounter).toBe(2);
    expect(soft.credentials[0]!.signCount).toBe(2);
  });

  it('emits a DER ECDSA signature over authenticatorData || sha256(clientDataJSON) that node:crypto verifies with the SPKI key', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const reg = soft.register(await regOptions());
    const { response } = await authenticate(soft, { id: reg.id, publicKey: new Uint8Array(), counter: 0 });
    const sig = b64uToBuf(response.response.signature);
    expect(sig[0]).toBe(0x30); // DER SEQUENCE
    const data = Buffer.concat([b64uToBuf(response.response.authenticatorData), createHash('sha256').update(b64uToBuf(response.response.clientDataJSON)).digest()]);
    const key = createPublicKey({ key: b64uToBuf(reg.response.publicKey!), format: 'der', type: 'spki' });
    expect(nodeVerify('sha256', data, key, sig)).toBe(true);
    const authData = b64uToBuf(response.response.authenticatorData);
    expect(authData).toHaveLength(37);
    expect(authData[32]).toBe(0x01 | 0x04);
    expect(authData.readUInt32BE(33)).toBe(1);
    expect(JSON.parse(b64uToBuf(response.response.clientDataJSON).toString('utf8'))).toEqual({ type: 'webauthn.get', challenge: expect.any(String), origin: ORIGIN, crossOrigin: false });
  });

  it.each<[string, AssertOverrides, RegExp]>([
    ['wrong origin', { origin: 'https://evil.example' }, /origin/],
    ['wrong rpId', { rpId: 'evil.example' }, /RP ID/i],
    ['userVerified false with requireUserVerification', { userVerified: false }, /User verification required/],
    ['userPresent false', { userPresent: false }, /User not present/],
    ['wrong challenge', { challenge: 'bm90LXRoZS1jaGFsbGVuZ2U' }, /challenge/],
    ['wrong clientData type', { type: 'webauthn.create' }, /type/],
  ])('fails verification on %s', async (_name, overrides, message) => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const { credential } = await enrolled(soft);
    await expect((await authenticate(soft, credential, overrides)).run()).rejects.toThrow(message);
  });

  it('fails verification on a tampered signature (verified: false)', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const { credential } = await enrolled(soft);
    const result = await (await authenticate(soft, credential, { tamperSignature: true })).run();
    expect(result.verified).toBe(false);
    // and the untampered control with the same credential passes
    credential.counter = 0;
    expect((await (await authenticate(soft, credential)).run()).verified).toBe(true);
  });

  it('fails verification on counter regression (stored 5, assertion 3) and on a repeated counter', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const { credential } = await enrolled(soft);
    credential.counter = 5;
    await expect((await authenticate(soft, credential, { signCount: 3 })).run()).rejects.toThrow(/counter value 3 was lower than expected 5/);
    expect(soft.credentials[0]!.signCount).toBe(3);
    await expect((await authenticate(soft, credential, { signCount: 5 })).run()).rejects.toThrow(/counter/);
    const ok = await (await authenticate(soft, credential, { signCount: 6 })).run();
    expect(ok.authenticationInfo.newCounter).toBe(6);
  });

  it('syncedCounter: counter stays 0 and 0-with-0 verifies; passkey is backup-eligible and backed up', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN, syncedCounter: true });
    const { credential } = await enrolled(soft);
    expect(credential.counter).toBe(0);
    for (let i = 0; i < 2; i++) {
      const result = await (await authenticate(soft, credential)).run();
      expect(result.verified).toBe(true);
      expect(result.authenticationInfo).toMatchObject({ newCounter: 0, credentialDeviceType: 'multiDevice', credentialBackedUp: true });
      credential.counter = result.authenticationInfo.newCounter;
    }
    expect(soft.credentials[0]!.signCount).toBe(0);
  });

  it('userHandle: null omits it, a string replaces it (the library does not look at it)', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const { credential } = await enrolled(soft);
    const omitted = await authenticate(soft, credential, { userHandle: null });
    expect('userHandle' in omitted.response.response).toBe(false);
    expect((await omitted.run()).verified).toBe(true);
    credential.counter = 1;
    const replaced = await authenticate(soft, credential, { userHandle: 'c29tZW9uZS1lbHNl' });
    expect(replaced.response.response.userHandle).toBe('c29tZW9uZS1lbHNl');
    expect((await replaced.run()).verified).toBe(true);
  });

  it('picks the credential named by allowCredentials, or any for the rpId when the list is empty', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    const a = await enrolled(soft);
    const b = await enrolled(soft);
    const onlyB = await authenticate(soft, b.credential);
    expect(onlyB.response.id).toBe(b.credential.id);
    expect((await onlyB.run()).verified).toBe(true);

    const discoverable = soft.assert(await generateAuthenticationOptions({ rpID: RP_ID }));
    expect(discoverable.id).toBe(a.credential.id);
    expect(discoverable.response.userHandle).toBe(a.userId);

    const viaOverride: AuthenticationResponseJSON = soft.assert(await generateAuthenticationOptions({ rpID: RP_ID }), { credentialId: b.credential.id });
    expect(viaOverride.id).toBe(b.credential.id);
    expect(soft.credentials.map((c) => c.signCount)).toEqual([1, 2]);
  });

  it('throws a clear error when no stored credential matches', async () => {
    const soft = new SoftAuthenticator({ origin: ORIGIN });
    expect(() => soft.assert({ challenge: 'Yw', rpId: RP_ID })).toThrow(/no stored credential for rpId "mandate.example"/);
    await enrolled(soft);
    expect(() => soft.assert({ challenge: 'Yw', rpId: RP_ID, allowCredentials: [{ id: 'dW5rbm93bg', type: 'public-key' }] })).toThrow(/among allowCredentials \[dW5rbm93bg\]/);
    expect(() => soft.assert({ challenge: 'Yw', rpId: 'elsewhere.example' })).toThrow(/elsewhere\.example/);
    expect(() => soft.assert({ challenge: 'Yw' }, { credentialId: 'dW5rbm93bg' })).toThrow(/no stored credential with id dW5rbm93bg/);
  });
});

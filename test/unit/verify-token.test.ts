import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import { actChain, actDepth, parseActClaim } from '../../src/exchange/act-claim.js';
import { createTokenVerifier } from '../../src/exchange/verify-token.js';
import type { TokenVerifier, TrustedIssuer } from '../../src/exchange/verify-token.js';
import { TOKEN_TYPE } from '../../src/exchange/types.js';

const MANDATE = 'https://mandate.test';
const INLINE = 'https://inline.idp.test';
const REMOTE = 'https://remote.idp.test';
const FILE = 'https://file.idp.test';
const AUD = 'https://mandate.test/token';
const SKEW = 60;
const MAX_BYTES = 4096;
const AT = TOKEN_TYPE.access_token;
const JWT = TOKEN_TYPE.jwt;

/** `kid` undefined: the token header names no key. */
interface Signer { key: CryptoKey; publicKey: CryptoKey; jwk: JWK; alg: string; kid: string | undefined }

let mandate: Signer, inline: Signer, remote: Signer, remoteLeaked: Signer, file: Signer, file2: Signer, leaked: Signer, otherRsa: Signer, es256: Signer;
let server: Server;
let dir: string;
let jwksFile: string;
let verifier: TokenVerifier;
const clock = Date.now();
const nowS = Math.floor(clock / 1000);

async function signer(alg: 'ES256' | 'RS256' | 'EdDSA', kid: string): Promise<Signer> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { key: pair.privateKey, publicKey: pair.publicKey, alg, kid, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg } };
}

const jwksOf = (...keys: JWK[]): { keys: Record<string, unknown>[] } => ({ keys: keys.map((jwk) => ({ ...jwk })) });

function issuers(jwksUri: string, file: string): TrustedIssuer[] {
  return [
    { issuer: INLINE, jwks: inlineJwks, audiences: [AUD], algorithms: ['RS256', 'ES256'], token_types: ['access_token', 'jwt'] },
    { issuer: REMOTE, jwks_uri: jwksUri, audiences: [AUD], algorithms: ['EdDSA'], token_types: ['id_token', 'jwt'] },
    { issuer: FILE, jwks_file: file, audiences: [AUD], algorithms: ['RS256'], token_types: ['jwt'] },
  ];
}
let inlineJwks: { keys: Record<string, unknown>[] };
let remoteUri: string;
let mandateJwk: JWK;

const verifierWith = (over: { trusted?: TrustedIssuer[]; now?: () => number } = {}): TokenVerifier =>
  createTokenVerifier({
    mandateIssuer: MANDATE,
    mandateJwks: () => ({ keys: [mandateJwk] }),
    trustedIssuers: over.trusted ?? issuers(remoteUri, jwksFile),
    clockSkewSeconds: SKEW,
    maxTokenBytes: MAX_BYTES,
    now: over.now ?? (() => clock),
  });

beforeAll(async () => {
  const m = await signer('ES256', 'mandate-1');
  const i = await signer('RS256', 'inline-rs');
  const r = await signer('EdDSA', 'remote-ed');
  const f = await signer('RS256', 'file-1');
  const f2 = await signer('RS256', 'file-2');
  const l = await signer('ES256', 'inline-leaked');
  remoteLeaked = await signer('EdDSA', 'remote-leaked');
  const remotePrivate = { ...(await exportJWK(remoteLeaked.key)), kid: remoteLeaked.kid, alg: 'EdDSA' };
  [mandate, inline, remote, file, file2, leaked] = [m, i, r, f, f2, l];
  otherRsa = { ...(await signer('RS256', 'x')), kid: 'inline-rs' };
  es256 = { ...(await signer('ES256', 'x')), kid: 'file-1' };
  mandateJwk = { ...m.jwk, use: 'sig' };
  const leakedPrivate = { ...(await exportJWK(l.key)), kid: l.kid, alg: 'ES256' };
  inlineJwks = jwksOf(i.jwk, leakedPrivate);

  server = createServer((req, res) => {
    res.writeHead(req.url === '/jwks' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwksOf(r.jwk, remotePrivate)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  remoteUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;

  dir = await mkdtemp(join(tmpdir(), 'mandate-verify-'));
  jwksFile = join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify(jwksOf(f.jwk)));
  verifier = verifierWith();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

interface TokenOptions { iss?: string; typ?: string | undefined; header?: Record<string, unknown>; claims?: JWTPayload }

/** A signed token valid by default: Mandate's at+jwt, or a trusted issuer's token addressed to AUD. */
function token(by: Signer, options: TokenOptions = {}): Promise<string> {
  const iss = options.iss ?? (by === mandate ? MANDATE : INLINE);
  const typ = 'typ' in options ? options.typ : 'at+jwt';
  const claims: JWTPayload = { iss, sub: 'user-1', aud: iss === MANDATE ? 'https://api.test' : AUD, iat: nowS, exp: nowS + 300, jti: randomUUID(), ...options.claims };
  const header = { alg: by.alg, kid: by.kid, ...(typ === undefined ? {} : { typ }), ...options.header };
  return new SignJWT(claims).setProtectedHeader(header).sign(by.key);
}

const refused = (description: string | RegExp) => ({ ok: false, error: { error: 'invalid_request', description: typeof description === 'string' ? expect.stringContaining(description) : expect.stringMatching(description) } });

describe('createTokenVerifier: refusals (SPEC rule 1)', () => {
  it('refuses alg none, in any case', async () => {
    const unsigned = new UnsecuredJWT({ iss: INLINE, sub: 'user-1', aud: AUD, exp: nowS + 300 }).encode();
    expect(await verifier.verify(unsigned, JWT, 'subject_token')).toEqual({ ok: false, error: { error: 'invalid_request', description: 'subject_token: alg none is not accepted (the token must be signed)' } });
    const upper = `${base64url.encode(JSON.stringify({ alg: 'NONE' }))}.${unsigned.split('.')[1]}.`;
    expect(await verifier.verify(upper, JWT, 'subject_token')).toEqual(refused('alg none is not accepted'));
  });

  it.each([
    ['the PEM', async () => new TextEncoder().encode(await exportSPKI(inline.publicKey))],
    ['the JWK', async () => new TextEncoder().encode(JSON.stringify(await exportJWK(inline.publicKey)))],
  ])('refuses HS256 "signed" with %s of the issuer\'s RSA public key (algorithm confusion)', async (_, secret) => {
    const forged = await new SignJWT({ iss: INLINE, sub: 'user-1', aud: AUD, exp: nowS + 300 })
      .setProtectedHeader({ alg: 'HS256', kid: inline.kid, typ: 'at+jwt' }).sign(await secret());
    expect(await verifier.verify(forged, AT, 'subject_token')).toEqual(refused(`subject_token: algorithm HS256 not allowed for issuer ${INLINE}`));
  });

  it('refuses an unknown kid', async () => {
    expect(await verifier.verify(await token({ ...inline, kid: 'nope' }), AT, 'subject_token')).toEqual(refused('subject_token: no key matches kid nope'));
  });

  it.each([
    ['jku', { jku: 'https://evil.test/jwks' }],
    ['x5u', { x5u: 'https://evil.test/cert.pem' }],
    ['jwk', { jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } }],
    ['x5c', { x5c: ['MIIB'] }],
  ])('refuses a %s header, even on a validly signed token', async (name, header) => {
    const description = `subject_token: header ${name} is not accepted (keys come from configuration only)`;
    expect(await verifier.verify(await token(inline, { header }), AT, 'subject_token')).toEqual({ ok: false, error: { error: 'invalid_request', description } });
  });

  it('refuses a crit header', async () => {
    const claims = { iss: INLINE, sub: 'user-1', aud: AUD, exp: nowS + 300 };
    const critical = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: inline.kid, typ: 'at+jwt', crit: ['urn:x'], 'urn:x': 1 })
      .sign(inline.key, { crit: { 'urn:x': true } });
    expect(await verifier.verify(critical, AT, 'subject_token')).toEqual(refused('subject_token: header crit is not accepted'));
  });

  it('refuses typ JWT on an access token of a trusted issuer', async () => {
    expect(await verifier.verify(await token(inline, { typ: 'JWT' }), AT, 'subject_token')).toEqual(refused('subject_token: declared type mismatch: typ JWT is not an access token'));
  });

  it('refuses an at+jwt declared as a plain jwt', async () => {
    expect(await verifier.verify(await token(inline), JWT, 'subject_token')).toEqual(refused('declared type mismatch: typ at+jwt is an access token, not jwt'));
  });

  it('refuses a Mandate token declared as jwt', async () => {
    expect(await verifier.verify(await token(mandate), JWT, 'subject_token')).toEqual(refused('subject_token: declared type mismatch: Mandate issues only access tokens'));
  });

  it('refuses a declared type the issuer is not trusted for', async () => {
    expect(await verifier.verify(await token(inline, { typ: undefined }), TOKEN_TYPE.id_token, 'subject_token'))
      .toEqual(refused(`subject_token: declared type id_token is not accepted from issuer ${INLINE}`));
  });

  it('refuses an unknown token type URN', async () => {
    expect(await verifier.verify(await token(inline), 'urn:ietf:params:oauth:token-type:saml2', 'actor_token'))
      .toEqual(refused('actor_token_type urn:ietf:params:oauth:token-type:saml2 is not supported'));
  });

  it('refuses a token expired beyond the clock skew, accepts one within it', async () => {
    const expired = await token(inline, { claims: { iat: nowS - 900, exp: nowS - SKEW - 1 } });
    expect(await verifier.verify(expired, AT, 'subject_token')).toEqual({ ok: false, error: { error: 'invalid_request', description: 'subject_token: expired' } });
    const recent = await token(inline, { claims: { iat: nowS - 900, exp: nowS - SKEW + 5 } });
    expect(await verifier.verify(recent, AT, 'subject_token')).toMatchObject({ ok: true });
  });

  it('refuses nbf beyond the clock skew, accepts it within', async () => {
    expect(await verifier.verify(await token(inline, { claims: { nbf: nowS + SKEW + 5 } }), AT, 'subject_token')).toEqual(refused('subject_token: not valid yet (nbf)'));
    expect(await verifier.verify(await token(inline, { claims: { nbf: nowS + SKEW - 5 } }), AT, 'subject_token')).toMatchObject({ ok: true });
  });

  it('refuses iat in the future beyond the clock skew', async () => {
    const early = await token(inline, { claims: { iat: nowS + SKEW + 5, exp: nowS + 600 } });
    expect(await verifier.verify(early, AT, 'subject_token')).toEqual(refused('subject_token: issued in the future (iat)'));
  });

  it('refuses an untrusted issuer, and a token without iss', async () => {
    expect(await verifier.verify(await token(inline, { iss: 'https://evil.test' }), AT, 'subject_token')).toEqual(refused('subject_token: issuer https://evil.test is not trusted'));
    expect(await verifier.verify(await token(inline, { claims: { iss: undefined } }), AT, 'subject_token')).toEqual(refused('is not trusted'));
  });

  it('refuses a trusted issuer\'s token addressed to another audience', async () => {
    expect(await verifier.verify(await token(inline, { claims: { aud: 'https://other.test' } }), AT, 'subject_token')).toEqual(refused('subject_token: audience not accepted'));
  });

  it('checks the size in bytes before parsing', async () => {
    expect(await verifier.verify('x'.repeat(MAX_BYTES + 1), AT, 'subject_token')).toEqual(refused(`subject_token: larger than the limit of ${MAX_BYTES} bytes`));
    expect(await verifier.verify('é'.repeat(MAX_BYTES / 2 + 1), AT, 'subject_token')).toEqual(refused(`${MAX_BYTES} bytes`));
  });

  it('refuses a JWE and anything that is not a three-part JWS', async () => {
    const jwe = 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y3Q.dGFn';
    expect(await verifier.verify(jwe, AT, 'subject_token')).toEqual(refused('subject_token: encrypted tokens (JWE) are not accepted'));
    expect(await verifier.verify('not-a-jwt', AT, 'subject_token')).toEqual(refused('subject_token: not a JWT'));
  });

  it('refuses an algorithm outside the issuer\'s pinned list', async () => {
    const wrongAlg = await token(es256, { iss: FILE, typ: 'JWT' });
    expect(await verifier.verify(wrongAlg, JWT, 'subject_token')).toEqual(refused(`subject_token: algorithm ES256 not allowed for issuer ${FILE}`));
  });

  it('refuses a signature by another key under the right kid', async () => {
    expect(await verifier.verify(await token(otherRsa), AT, 'subject_token')).toEqual(refused('subject_token: signature invalid'));
  });

  it.each([
    ['act without sub', { iss: MANDATE }, 'subject_token act: sub must be a non-empty string'],
    ['act as a string', 'agent-1', 'subject_token act: must be an object'],
    ['a nested act without sub', { sub: 'agent-2', act: { iss: MANDATE } }, 'subject_token act.act: sub must be a non-empty string'],
  ])('refuses %s', async (_, act, description) => {
    expect(await verifier.verify(await token(mandate, { claims: { act } }), AT, 'subject_token')).toEqual({ ok: false, error: { error: 'invalid_request', description } });
  });

  it('refuses a scope of the wrong type', async () => {
    expect(await verifier.verify(await token(inline, { claims: { scope: ['read'] } }), AT, 'subject_token')).toEqual(refused('subject_token: claim scope must be a space-separated string'));
    expect(await verifier.verify(await token(inline, { claims: { scope: undefined, scp: 'read' } }), AT, 'subject_token')).toEqual(refused('claim scp must be an array of strings'));
  });

  it('ignores a private JWK in an inline jwks (the public keys beside it still work)', async () => {
    expect(await verifier.verify(await token(leaked), AT, 'subject_token')).toEqual(refused('subject_token: no key matches kid inline-leaked'));
    expect(await verifier.verify(await token(inline), AT, 'subject_token')).toMatchObject({ ok: true });
  });

  it('ignores a private JWK served at a jwks_uri', async () => {
    const leakedToken = await token(remoteLeaked, { iss: REMOTE, typ: undefined });
    expect(await verifier.verify(leakedToken, JWT, 'subject_token')).toEqual(refused('subject_token: no key matches kid remote-leaked'));
  });

  it('refuses when the jwks_uri cannot be reached, without throwing', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = verifierWith({ trusted: issuers(`http://127.0.0.1:${port}/jwks`, jwksFile) });
    expect(await unreachable.verify(await token(remote, { iss: REMOTE, typ: undefined }), JWT, 'subject_token')).toEqual(refused(`subject_token: issuer keys unavailable for ${REMOTE}`));
  });

  it.each(['a.b.c', '..', 'e30.e30.c2ln', 'W10.e30.c2ln', `${base64url.encode('{"alg":"ES256"}')}.bm90IGpzb24.c2ln`, ' ', 'a'.repeat(MAX_BYTES)])(
    'refuses junk (%#) with invalid_request instead of throwing',
    async (junk) => {
      expect(await verifier.verify(junk, AT, 'subject_token')).toMatchObject({ ok: false, error: { error: 'invalid_request' } });
    },
  );

  it('refuses a Mandate token without jti', async () => {
    expect(await verifier.verify(await token(mandate, { claims: { jti: undefined } }), AT, 'subject_token')).toEqual(refused('subject_token: claim jti is missing'));
  });

  it('refuses when the jwks_file is missing, without throwing', async () => {
    const missing = verifierWith({ trusted: issuers(remoteUri, join(dir, 'absent.json')) });
    expect(await missing.verify(await token(file, { iss: FILE, typ: 'JWT' }), JWT, 'subject_token')).toEqual(refused(`subject_token: issuer keys unavailable for ${FILE}`));
  });
});

describe('createTokenVerifier: accepted tokens', () => {
  it('reads every claim of a Mandate token, keeping identity claims only in act and may_act', async () => {
    const claims = {
      jti: 'jti-1', client_id: 'agent-1', scope: 'read  write', sub_iss: 'https://idp.test', approval_id: 'ap-1', acr: 'passkey', amr: ['hwk'], auth_time: nowS - 10,
      act: { sub: 'agent-1', client_id: 'dropped', act: { sub: 'agent-0', iss: MANDATE, extra: true } },
      may_act: { sub: 'agent-2', scope: 'dropped' },
      cnf: { jkt: 'thumb' },
      authorization_details: [{ type: 'agent_task', task: 'book' }],
    };
    expect(await verifier.verify(await token(mandate, { claims }), AT, 'subject_token')).toEqual({
      ok: true,
      value: {
        issuer: MANDATE, mandateIssued: true, tokenType: 'access_token', sub: 'user-1', aud: ['https://api.test'], scope: ['read', 'write'],
        exp: nowS + 300, iat: nowS, jti: 'jti-1', clientId: 'agent-1',
        act: { sub: 'agent-1', act: { sub: 'agent-0', iss: MANDATE } }, mayAct: { sub: 'agent-2' }, cnfJkt: 'thumb',
        authorizationDetails: [{ type: 'agent_task', task: 'book' }], subIss: 'https://idp.test', approvalId: 'ap-1', acr: 'passkey', amr: ['hwk'], authTime: nowS - 10,
      },
    });
  });

  it('tries each key when a token without kid matches several', async () => {
    const second = await signer('ES256', 'mandate-2');
    const twoKeys = createTokenVerifier({
      mandateIssuer: MANDATE, mandateJwks: () => ({ keys: [mandateJwk, { ...second.jwk, kid: undefined }] }),
      trustedIssuers: [], clockSkewSeconds: SKEW, maxTokenBytes: MAX_BYTES, now: () => clock,
    });
    const unkeyed = await token({ ...second, kid: undefined }, { iss: MANDATE });
    expect(await twoKeys.verify(unkeyed, AT, 'subject_token')).toMatchObject({ ok: true, value: { issuer: MANDATE } });
  });

  it('accepts a trusted issuer\'s access token from an inline jwks, typ application/at+jwt, with an scp list', async () => {
    const result = await verifier.verify(await token(inline, { typ: 'application/at+jwt', claims: { scp: ['a', 'b'], aud: [AUD, 'x'] } }), AT, 'actor_token');
    expect(result).toEqual({ ok: true, value: expect.objectContaining({ issuer: INLINE, mandateIssued: false, tokenType: 'access_token', scope: ['a', 'b'], aud: [AUD, 'x'] }) });
  });

  it('accepts an ID token of an issuer with a jwks_uri (no typ)', async () => {
    const result = await verifier.verify(await token(remote, { iss: REMOTE, typ: undefined }), TOKEN_TYPE.id_token, 'subject_token');
    expect(result).toEqual({ ok: true, value: expect.objectContaining({ issuer: REMOTE, tokenType: 'id_token', sub: 'user-1' }) });
  });

  it('accepts a jwt from an issuer with a jwks_file, and re-reads the file for a new kid once the cooldown is over', async () => {
    let now = clock;
    const fileVerifier = verifierWith({ now: () => now });
    const first = await token(file, { iss: FILE, typ: 'JWT' });
    expect(await fileVerifier.verify(first, JWT, 'subject_token')).toMatchObject({ ok: true, value: { issuer: FILE, tokenType: 'jwt' } });

    await writeFile(jwksFile, JSON.stringify(jwksOf(file.jwk, file2.jwk)));
    const second = await token(file2, { iss: FILE, typ: 'JWT' });
    expect(await fileVerifier.verify(second, JWT, 'subject_token')).toEqual(refused('no key matches kid file-2'));
    now += 31_000;
    expect(await fileVerifier.verify(second, JWT, 'subject_token')).toMatchObject({ ok: true, value: { sub: 'user-1' } });
  });
});

describe('parseActClaim', () => {
  const chain = (depth: number): unknown => (depth === 0 ? undefined : { sub: `agent-${depth}`, act: chain(depth - 1) });

  it('accepts 10 levels and refuses 11', () => {
    expect(parseActClaim(chain(10))).toMatchObject({ ok: true });
    expect(parseActClaim(chain(11), 'subject_token act')).toEqual(refused(/^subject_token act(\.act){10}: act nesting deeper than 10 levels$/));
  });

  it('lists the chain outermost first', () => {
    const parsed = parseActClaim(chain(3));
    const act = parsed.ok ? parsed.value : undefined;
    expect(actChain(act).map((entry) => entry.sub)).toEqual(['agent-3', 'agent-2', 'agent-1']);
    expect(actDepth(act)).toBe(3);
    expect(actDepth(undefined)).toBe(0);
  });
});

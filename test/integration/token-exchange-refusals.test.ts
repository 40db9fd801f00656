import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, generateKeyPair } from 'jose';
import request from 'supertest';

import { secretOf, startTestApp, type TestApp } from '../support/app.js';
import { dpopProof } from '../support/dpop.js';
import { AT, exchange, exchangePolicy, IDP, JWT, makeIdp, MAIL, TOKEN_EXCHANGE, TRAVEL, type TestIdp } from '../support/exchange.js';

const MANDATE_AUD = 'https://mandate.example';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

/**
 * Every refusal of SPEC section 5 with its status and error code. Each test sends one bad
 * thing in an otherwise valid request, so the refusal is caused by exactly that.
 */
describe('token exchange: refusals', () => {
  let t: TestApp;
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await makeIdp(() => MANDATE_AUD);
    t = await startTestApp({ store: 'redis', policy: exchangePolicy(idp, MANDATE_AUD) });
  });
  afterAll(() => t.close());

  const refused = (res: { status: number; body: { error?: string; error_description?: string } }, status: number, error: string, description?: string | RegExp) => {
    expect({ status: res.status, error: res.body.error }).toEqual({ status, error });
    expect(typeof res.body.error_description).toBe('string');
    if (description !== undefined) expect(res.body.error_description).toMatch(description);
  };
  const unsigned = (header: object, claims: object): string =>
    `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
  const now = (): number => Math.floor(Date.now() / 1000);
  const userClaims = () => ({ iss: IDP, sub: '00u-alice', aud: MANDATE_AUD, scope: 'trips:read', iat: now(), exp: now() + 600 });

  describe('subject token (rule 1)', () => {
    it('alg none', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: unsigned({ alg: 'none', typ: 'at+jwt' }, userClaims()) }), 400, 'invalid_request', /none/);
    });

    it('HS256 signed with the public key (algorithm confusion)', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(idp.jwk));
      const token = await new SignJWT(userClaims()).setProtectedHeader({ alg: 'HS256', kid: 'idp-1', typ: 'at+jwt' }).sign(secret);
      refused(await exchange(t, 'agent-a', { subject_token: token }), 400, 'invalid_request', /HS256/);
    });

    it('unknown kid', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({}, { kid: 'nope' }) }), 400, 'invalid_request', /kid/);
    });

    it.each(['jku', 'x5u', 'jwk'])('a %s header', async (name) => {
      const value = name === 'jwk' ? idp.jwk : 'https://attacker.example/keys';
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({}, { [name]: value }) }), 400, 'invalid_request', new RegExp(name));
    });

    it('a crit header', async () => {
      // b64 is the one extension jose will sign with; Mandate accepts no crit at all.
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({}, { crit: ['b64'], b64: true }) }), 400, 'invalid_request', /crit/);
    });

    it('wrong typ for the declared type', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({}, { typ: 'JWT' }) }), 400, 'invalid_request', /typ/);
    });

    it('declared type mismatch (a type the issuer is not trusted for)', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({}, { typ: 'JWT' }), subject_token_type: ID_TOKEN }), 400, 'invalid_request');
    });

    it('an unknown subject_token_type', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), subject_token_type: 'urn:example:saml' }), 400, 'invalid_request');
    });

    it('expired', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ exp: now() - 120 }) }), 400, 'invalid_request', /expired/);
    });

    it('nbf in the future beyond the skew', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ nbf: now() + 300 }) }), 400, 'invalid_request', /nbf/);
    });

    it('untrusted issuer', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const token = await new SignJWT({ ...userClaims(), iss: 'https://evil.example' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(privateKey);
      refused(await exchange(t, 'agent-a', { subject_token: token }), 400, 'invalid_request', /not trusted/);
    });

    it('trusted issuer with the wrong aud', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ aud: 'https://someone-else.example' }) }), 400, 'invalid_request', /aud/);
    });

    it('a valid-looking token signed by another key with the right kid', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const token = await new SignJWT(userClaims()).setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'at+jwt' }).sign(privateKey);
      refused(await exchange(t, 'agent-a', { subject_token: token }), 400, 'invalid_request', /signature/);
    });

    it('oversized token (checked before parsing)', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: 'a'.repeat(9000) }), 400, 'invalid_request', /8192/);
    });

    it('not a JWT at all', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: 'opaque-token-value' }), 400, 'invalid_request');
    });

    it('a revoked Mandate subject token', async () => {
      const first = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }).expect(200);
      await request(t.server).post('/token/revocation').auth('agent-a', secretOf('agent-a')).type('form').send({ token: first.body.access_token }).expect(200);
      refused(await exchange(t, 'agent-a', { subject_token: first.body.access_token }), 400, 'invalid_request', /revoked/);
    });

    it('a Mandate token declared as a plain jwt', async () => {
      const first = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }).expect(200);
      refused(await exchange(t, 'agent-a', { subject_token: first.body.access_token, subject_token_type: JWT }), 400, 'invalid_request');
    });
  });

  describe('request parameters', () => {
    it('duplicate subject_token parameters', async () => {
      const token = await idp.token();
      refused(await exchange(t, 'agent-a', { subject_token: [token, token] }), 400, 'invalid_request', /subject_token/);
    });

    it('missing subject_token', async () => {
      refused(await exchange(t, 'agent-a', { subject_token_type: AT }), 400, 'invalid_request', /subject_token is required/);
    });

    it('actor_token without actor_token_type', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), actor_token: await idp.token() }), 400, 'invalid_request', /actor_token_type/);
    });

    it('requested_token_type refresh_token', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 400, 'invalid_request', /requested_token_type/);
    });
  });

  describe('target (rule 5)', () => {
    it('two targets', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: [TRAVEL, MAIL] }), 400, 'invalid_target');
    });

    it('resource and audience naming different targets', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, audience: 'agent-b' }), 400, 'invalid_target');
    });

    it('an unregistered target', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: 'https://evil.example' }), 400, 'invalid_target');
    });

    it('an agent outside may_delegate_to', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-x' }), 400, 'invalid_target');
    });
  });

  describe('scope (rule 6)', () => {
    it('scope escalation beyond the subject token', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ scope: 'trips:read' }), scope: 'trips:book' }), 400, 'invalid_scope', /trips:book/);
    });

    it('scope beyond the delegation', async () => {
      refused(await exchange(t, 'agent-x', { subject_token: await idp.token(), scope: 'trips:read trips:book' }), 400, 'invalid_scope', /trips:book/);
    });

    it('scope of another resource', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), resource: TRAVEL, scope: 'mail:read' }), 400, 'invalid_scope', /mail:read/);
    });

    it('a non-ASCII look-alike scope', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:re\u0430d' }), 400, 'invalid_scope');
    });
  });

  describe('who may act (rules 2, 3, 4)', () => {
    it('no delegation for this subject and agent', async () => {
      refused(await exchange(t, 'agent-b', { subject_token: await idp.token() }), 400, 'invalid_request', /delegation/);
    });

    it('an expired delegation', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ sub: '00u-bob' }) }), 400, 'invalid_request', /delegation/);
    });

    it('actor_token of another agent', async () => {
      const other = await request(t.server).post('/token').auth('agent-b', secretOf('agent-b')).type('form')
        .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' }).expect(200);
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), actor_token: other.body.access_token, actor_token_type: AT }), 400, 'invalid_request', /actor_token/);
    });

    it('subject and actor swapped', async () => {
      const own = await request(t.server).post('/token').auth('agent-a', secretOf('agent-a')).type('form')
        .send({ grant_type: 'client_credentials', resource: TRAVEL, scope: 'trips:read' }).expect(200);
      refused(await exchange(t, 'agent-a', { subject_token: own.body.access_token, actor_token: await idp.token(), actor_token_type: AT }), 400, 'invalid_request');
    });

    it('subject from chain 1 with an actor token from chain 2', async () => {
      const chain1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
      // Chain 2: B acting (as itself) for Alice, via may_act; B's token carries act {B}.
      const chain2 = await exchange(t, 'agent-b', { subject_token: await idp.token({ may_act: { sub: 'agent-b' } }), scope: 'trips:read' }).expect(200);
      // Splice: chain-1 subject, chain-2 token of B presented as the actor.
      const spliced = await exchange(t, 'agent-b', { subject_token: chain1.body.access_token, actor_token: chain2.body.access_token, actor_token_type: AT });
      refused(spliced, 400, 'invalid_request');
    });

    it('re-delegation by an agent not in the previous actor\'s may_delegate_to', async () => {
      const hop1 = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }).expect(200);
      refused(await exchange(t, 'agent-x', { subject_token: hop1.body.access_token }), 400, 'invalid_request', /agent-a may not delegate to agent-x/);
    });

    it('depth over the limit along a real chain A → B → C → D', async () => {
      const b = await exchange(t, 'agent-a', { subject_token: await idp.token(), audience: 'agent-b', scope: 'trips:read' }).expect(200);
      const c = await exchange(t, 'agent-b', { subject_token: b.body.access_token, audience: 'agent-c' }).expect(200);
      const d = await exchange(t, 'agent-c', { subject_token: c.body.access_token, audience: 'agent-d' }).expect(200);
      refused(await exchange(t, 'agent-d', { subject_token: d.body.access_token, resource: TRAVEL }), 400, 'invalid_request', /depth/);
    });

    it('a cycle: A acting again below D in the chain', async () => {
      const token = await idp.token({ may_act: { sub: 'agent-a' }, act: { sub: 'agent-d', act: { sub: 'agent-a' } } });
      refused(await exchange(t, 'agent-a', { subject_token: token }), 400, 'invalid_request', /cycle/);
    });

    it('depth over the limit', async () => {
      const token = await idp.token({ may_act: { sub: 'agent-d' }, act: { sub: 'agent-c', act: { sub: 'agent-b', act: { sub: 'agent-a' } } } });
      // agent-c may delegate to agent-d, so only the depth (4 > 3) is wrong.
      refused(await exchange(t, 'agent-d', { subject_token: token }), 400, 'invalid_request', /depth/);
    });

    it('an attempt to drop act: a malformed act claim', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ act: { iss: IDP } }) }), 400, 'invalid_request', /act/);
    });

    it('a subject who is a deactivated user, even with a delegation', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ sub: '00u-dave' }), scope: 'trips:read' }), 400, 'invalid_request', /dave, who is deactivated/);
      await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }).expect(200);
    });

    it('an act chain naming an unregistered agent', async () => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token({ act: { sub: 'ghost-agent' } }) }), 400, 'invalid_request', /ghost-agent/);
    });

    it('an approval whose approver has no passkey is refused, never skipped', async () => {
      refused(await exchange(t, 'tier1-agent', { subject_token: await idp.token() }), 400, 'invalid_request', /alice has no passkey/);
      refused(await exchange(t, 'tier2-agent', { subject_token: await idp.token({ scope: 'trips:read trips:book' }), scope: 'trips:book' }), 400, 'invalid_request', /trips:book.*has no passkey/);
    });
  });

  describe('clients and agents (rule 8)', () => {
    it('suspended, retired, expired and orphaned agents get the answer an unknown id or a wrong secret gets', async () => {
      const subjectToken = await idp.token();
      const unknown = await exchange(t, 'ghost', { subject_token: subjectToken });
      const wrongSecret = await request(t.server).post('/token').auth('agent-a', 'not-the-secret').type('form')
        .send({ grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: AT });
      refused(unknown, 401, 'invalid_client');
      expect({ status: wrongSecret.status, body: wrongSecret.body }).toEqual({ status: 401, body: unknown.body });
      for (const agent of ['suspended-agent', 'retired-agent', 'expired-agent', 'orphan-agent']) {
        const res = await exchange(t, agent, { subject_token: subjectToken });
        expect({ agent, status: res.status, body: res.body }).toEqual({ agent, status: 401, body: unknown.body });
      }
    });

    it('unknown client', async () => {
      refused(await exchange(t, 'ghost', { subject_token: await idp.token() }), 401, 'invalid_client');
    });

    it('no client authentication', async () => {
      const res = await request(t.server).post('/token').type('form')
        .send({ grant_type: TOKEN_EXCHANGE, subject_token: await idp.token(), subject_token_type: AT });
      refused(res, 400, 'invalid_request', /client authentication/);
    });

    it('a plain client (not an agent) is unauthorized_client', async () => {
      refused(await exchange(t, 'travel-app', { subject_token: await idp.token() }), 400, 'unauthorized_client');
    });
  });

  describe('authorization_details', () => {
    it.each([
      ['not JSON', '{'],
      ['an unknown type', JSON.stringify([{ type: 'wire_transfer' }])],
      ['agent_task without task_id', JSON.stringify([{ type: 'agent_task' }])],
      ['not an array', JSON.stringify({ type: 'agent_task', task_id: 't' })],
    ])('%s', async (_name, details) => {
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), authorization_details: details }), 400, 'invalid_authorization_details');
    });
  });

  describe('DPoP', () => {
    it('a proof from the wrong key for a DPoP-bound subject token', async () => {
      const { proof } = await dpopProof(t.issuer);
      const bound = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }, { DPoP: proof }).expect(200);
      const other = await dpopProof(t.issuer);
      refused(await exchange(t, 'agent-a', { subject_token: bound.body.access_token }, { DPoP: other.proof }), 400, 'invalid_dpop_proof');
    });

    it('a DPoP-bound subject token without any proof', async () => {
      const { proof } = await dpopProof(t.issuer);
      const bound = await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }, { DPoP: proof }).expect(200);
      refused(await exchange(t, 'agent-a', { subject_token: bound.body.access_token }), 400, 'invalid_dpop_proof');
    });

    it('an agent with require_dpop and no proof', async () => {
      refused(await exchange(t, 'dpop-agent', { subject_token: await idp.token() }), 400, 'invalid_dpop_proof');
    });

    it('a replayed proof, a proof for another URL, and a proof for another method', async () => {
      const { proof } = await dpopProof(t.issuer);
      await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }, { DPoP: proof }).expect(200);
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token(), scope: 'trips:read' }, { DPoP: proof }), 400, 'invalid_dpop_proof', /replay/);
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token() }, { DPoP: (await dpopProof('https://elsewhere.example')).proof }), 400, 'invalid_dpop_proof', /htu/);
      refused(await exchange(t, 'agent-a', { subject_token: await idp.token() }, { DPoP: (await dpopProof(t.issuer, 'GET')).proof }), 400, 'invalid_dpop_proof', /htm/);
    });
  });
});

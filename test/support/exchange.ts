import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import request from 'supertest';

import { secretOf, type TestApp } from './app.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const AT = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TRAVEL = 'https://api.travel.example';
export const MAIL = 'https://api.mail.example';
export const IDP = 'https://idp.example.com';

/** A stand-in for a company IdP: its key signs user tokens that Mandate accepts as subject tokens. */
export interface TestIdp {
  key: CryptoKey;
  jwk: JWK;
  /** A user access token (typ at+jwt) addressed to Mandate, with claims overridable. */
  token(claims?: Record<string, unknown>, header?: Record<string, unknown>): Promise<string>;
}

export async function makeIdp(audience: () => string): Promise<TestIdp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'ES256' };
  return {
    key: privateKey,
    jwk,
    async token(claims = {}, header = {}) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ iss: IDP, sub: '00u-alice', aud: audience(), scope: 'trips:read trips:book mail:read', iat: now, exp: now + 600, ...claims })
        .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'at+jwt', ...header })
        .sign(privateKey);
    },
  };
}

const agentAuth = (id: string): Record<string, string> => ({ method: 'client_secret_basic', secret_env: `TEST_${id.toUpperCase().replace(/-/g, '_')}_SECRET` });

/** The policy for exchange tests: agents of every tier and state, a chain A → B → C. */
export function exchangePolicy(idp: TestIdp, mandateAudience: string) {
  const agent = (id: string, extra: Record<string, unknown> = {}) => ({
    id, name: id, owner: 'alice', tier: 3, scopes: ['trips:read', 'trips:book', 'mail:read'], audiences: [TRAVEL, MAIL], default_audience: TRAVEL, auth: agentAuth(id), ...extra,
  });
  return {
    resources: [
      { uri: TRAVEL, name: 'Travel API', scopes: ['trips:read', 'trips:book'], high_risk_scopes: ['trips:book'], max_token_ttl: 600, authorization_details_types: ['trip_booking'] },
      { uri: MAIL, name: 'Mail API', scopes: ['mail:read'], max_token_ttl: 300 },
    ],
    limits: { max_delegation_depth: 3, clock_skew_seconds: 60, max_subject_token_bytes: 8192, approval_ttl_seconds: 600, approval_poll_interval_seconds: 1 },
    trusted_issuers: [{ issuer: IDP, jwks: { keys: [idp.jwk] }, audiences: [mandateAudience], algorithms: ['ES256'], token_types: ['access_token', 'jwt'] }],
    users: [
      { id: 'alice', name: 'Alice', subjects: [{ iss: IDP, sub: '00u-alice' }] },
      { id: 'bob', name: 'Bob', subjects: [{ iss: IDP, sub: '00u-bob' }] },
      { id: 'carol', name: 'Carol', status: 'deactivated' },
      { id: 'dave', name: 'Dave', status: 'deactivated', subjects: [{ iss: IDP, sub: '00u-dave' }] },
    ],
    clients: [
      { id: 'travel-app', auth: agentAuth('travel-app'), scopes: ['trips:read'], audiences: [TRAVEL] },
      { id: 'travel-api', auth: agentAuth('travel-api'), grant_types: [], resource_server: TRAVEL },
    ],
    agents: [
      agent('agent-a', { may_delegate_to: ['agent-b'], grant_types: ['client_credentials'] }),
      agent('agent-b', { may_delegate_to: ['agent-c'], grant_types: ['client_credentials'] }),
      agent('agent-c', { may_delegate_to: ['agent-d'] }),
      agent('agent-d', { may_delegate_to: ['agent-a'] }),
      agent('agent-x'),
      agent('tier2-agent', { tier: 2 }),
      agent('tier1-agent', { tier: 1 }),
      agent('short-agent', { max_token_ttl: 120 }),
      agent('dpop-agent', { require_dpop: true }),
      agent('suspended-agent', { status: 'suspended' }),
      agent('retired-agent', { status: 'retired' }),
      agent('expired-agent', { expires_at: '2020-01-01T00:00:00Z' }),
      agent('orphan-agent', { owner: 'carol' }),
    ],
    delegations: [
      { id: 'alice-a', user: 'alice', agent: 'agent-a', scopes: ['trips:read', 'trips:book', 'mail:read'], audiences: [TRAVEL, MAIL] },
      { id: 'alice-x', user: 'alice', agent: 'agent-x', scopes: ['trips:read'], audiences: [TRAVEL] },
      { id: 'alice-t2', user: 'alice', agent: 'tier2-agent', scopes: ['trips:read', 'trips:book'], audiences: [TRAVEL] },
      { id: 'alice-t1', user: 'alice', agent: 'tier1-agent', scopes: ['trips:read'], audiences: [TRAVEL] },
      ...['short-agent', 'dpop-agent', 'suspended-agent', 'retired-agent', 'expired-agent', 'orphan-agent'].map((agentId) => (
        { id: `alice-${agentId}`, user: 'alice', agent: agentId, scopes: ['trips:read'], audiences: [TRAVEL] })),
      { id: 'dave-a', user: 'dave', agent: 'agent-a', scopes: ['trips:read'], audiences: [TRAVEL] },
      { id: 'expired', user: 'bob', agent: 'agent-a', scopes: ['trips:read'], audiences: [TRAVEL], expires_at: '2020-01-01T00:00:00Z' },
    ],
  };
}

/** POSTs a token exchange as `agent` (client_secret_basic) with the given parameters. */
export function exchange(t: TestApp, agent: string, params: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries({ grant_type: TOKEN_EXCHANGE, subject_token_type: AT, ...params })) {
    for (const v of [value].flat()) body.append(key, v);
  }
  const req = request(t.server).post('/token').auth(agent, secretOf(agent)).type('form');
  for (const [name, value] of Object.entries(headers)) req.set(name, value);
  return req.send(body.toString());
}

export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

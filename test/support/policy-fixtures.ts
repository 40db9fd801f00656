import type { AgentConfig, Resource } from '../../src/config/policy-schema.js';

/** Typed policy inputs for the pure decision functions' unit tests (no parsing, no I/O). */

export const TRAVEL = 'https://api.travel.example';

/** A registered resource; every field the schema fills in, overridable. */
export const resourceConfig = (uri: string, name: string, scopes: string[], over: Partial<Resource> = {}): Resource => ({
  uri, name, scopes, high_risk_scopes: [], max_token_ttl: 600, authorization_details_types: [], ...over,
});

/** The Travel API with `trips:book` as its high-risk scope. */
export const travelResource = (): Resource => resourceConfig(TRAVEL, 'Travel API', ['trips:read', 'trips:book'], { high_risk_scopes: ['trips:book'] });

/** An active tier-2 agent of alice's on the Travel API (private_key_jwt, no keys needed here). */
export const agentConfig = (id: string, over: Partial<AgentConfig> = {}): AgentConfig => ({
  id,
  name: `${id} display name`,
  owner: 'alice',
  tier: 2,
  scopes: ['trips:read'],
  audiences: [TRAVEL],
  default_audience: TRAVEL,
  max_token_ttl: 300,
  may_delegate_to: [],
  expires_at: '2027-06-01T00:00:00Z',
  require_dpop: false,
  status: 'active',
  grant_types: [],
  auth: { method: 'private_key_jwt', jwks: { keys: [] } },
  ...over,
});

import { describe, expect, it } from '@jest/globals';

import type { AgentConfig, UserConfig } from '../../src/config/policy-schema.js';
import { checkAgentState, type AgentStateInput } from '../../src/policy/agent-state.js';

// SPEC section 5, rule 8: unknown, suspended, retired or expired agent, or an agent whose owner is
// inactive: invalid_client, with one description for all (no probing) and the reason for the audit trail.

const EXPIRES_AT = '2027-06-01T00:00:00Z';
const EXPIRY = Date.parse(EXPIRES_AT) / 1000;
const NOW = EXPIRY - 3600;
const GENERIC = 'client authentication failed or the client may not be used';

const agent = (over: Partial<AgentConfig> = {}): AgentConfig => ({
  id: 'travel-agent',
  name: 'Travel booking agent',
  owner: 'alice',
  tier: 2,
  scopes: ['trips:read', 'trips:book'],
  audiences: ['https://api.travel.example'],
  default_audience: 'https://api.travel.example',
  max_token_ttl: 300,
  may_delegate_to: [],
  expires_at: EXPIRES_AT,
  require_dpop: false,
  status: 'active',
  grant_types: [],
  auth: { method: 'client_secret_basic', secret_env: 'TRAVEL_AGENT_SECRET' },
  ...over,
});

const alice = (over: Partial<UserConfig> = {}): UserConfig => ({
  id: 'alice', name: 'Alice Example', email: 'alice@example.com', status: 'active', subjects: [], ...over,
});

const input = (over: Partial<AgentStateInput> = {}): AgentStateInput => ({ clientId: 'travel-agent', agent: agent(), owner: alice(), now: NOW, ...over });

const blocked = (reason: string): unknown => ({ ok: false, error: { error: 'invalid_client', description: GENERIC, reason } });

describe('checkAgentState', () => {
  it.each<[string, Partial<AgentStateInput>]>([
    ['an active agent with an active owner', {}],
    ['an agent without expires_at', { agent: agent({ expires_at: undefined }) }],
    ['an agent one second before expires_at', { now: EXPIRY - 1 }],
    ['an agent with a non-UTC expires_at still ahead', { agent: agent({ expires_at: '2027-06-01T01:00:00+02:00' }), now: EXPIRY - 3601 }],
  ])('accepts %s', (_case, over) => {
    expect(checkAgentState(input(over))).toStrictEqual({ ok: true, value: undefined });
  });

  it.each<[string, Partial<AgentStateInput>, string]>([
    ['an unknown agent', { agent: undefined }, 'unknown_agent'],
    ['a suspended agent', { agent: agent({ status: 'suspended' }) }, 'agent_suspended'],
    ['a retired agent', { agent: agent({ status: 'retired' }) }, 'agent_retired'],
    ['an agent whose expires_at is now', { now: EXPIRY }, 'agent_expired'],
    ['an agent past expires_at', { now: EXPIRY + 1 }, 'agent_expired'],
    ['an agent past a non-UTC expires_at', { agent: agent({ expires_at: '2027-06-01T01:00:00+02:00' }), now: EXPIRY - 3600 }, 'agent_expired'],
    ['an agent whose owner is not a known user', { owner: undefined }, 'owner_inactive'],
    ['an agent whose owner is deactivated', { owner: alice({ status: 'deactivated' }) }, 'owner_inactive'],
  ])('refuses %s with the same description', (_case, over, reason) => {
    expect(checkAgentState(input(over))).toStrictEqual(blocked(reason));
  });

  it.each<[string, Partial<AgentStateInput>, string]>([
    ['unknown before an inactive owner', { agent: undefined, owner: undefined }, 'unknown_agent'],
    ['suspended before expired', { agent: agent({ status: 'suspended' }), now: EXPIRY + 1 }, 'agent_suspended'],
    ['retired before expired', { agent: agent({ status: 'retired' }), now: EXPIRY + 1 }, 'agent_retired'],
    ['suspended before an inactive owner', { agent: agent({ status: 'suspended' }), owner: alice({ status: 'deactivated' }) }, 'agent_suspended'],
    ['expired before an inactive owner', { now: EXPIRY, owner: undefined }, 'agent_expired'],
  ])('reports %s', (_case, over, reason) => {
    expect(checkAgentState(input(over))).toStrictEqual(blocked(reason));
  });
});

describe('checkAgentState fails closed on inconsistent inputs', () => {
  it.each<[string, Partial<AgentStateInput>, string]>([
    ['an agent record under another id than the client_id', { clientId: 'hotel-agent' }, 'unknown_agent'],
    ['a client_id differing only in case', { clientId: 'Travel-Agent' }, 'unknown_agent'],
    ['an unreadable expires_at (counted as expired)', { agent: agent({ expires_at: 'not a date' }) }, 'agent_expired'],
    ['an owner record of another user', { owner: alice({ id: 'bob' }) }, 'owner_inactive'],
  ])('refuses %s', (_case, over, reason) => {
    expect(checkAgentState(input(over))).toStrictEqual(blocked(reason));
  });

  it('gives one description for every reason (the caller cannot probe which ids exist)', () => {
    const cases: Partial<AgentStateInput>[] = [
      { agent: undefined }, { agent: agent({ status: 'suspended' }) }, { agent: agent({ status: 'retired' }) }, { now: EXPIRY }, { owner: undefined },
    ];
    const descriptions = new Set(cases.map((over) => {
      const result = checkAgentState(input(over));
      return result.ok ? 'accepted' : result.error.description;
    }));
    expect([...descriptions]).toEqual([GENERIC]);
  });
});

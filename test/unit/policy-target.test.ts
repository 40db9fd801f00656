import { describe, expect, it } from '@jest/globals';

import type { AgentConfig } from '../../src/config/policy-schema.js';
import { resolveTarget, type TargetInput } from '../../src/policy/target.js';
import { agentConfig as baseAgent, resourceConfig, TRAVEL } from '../support/policy-fixtures.js';

// SPEC section 5, rule 5: one registered resource from the agent's `audiences`, or an agent from
// its `may_delegate_to`; none given: `default_audience`; anything else: invalid_target.

const MAIL = 'https://mail.example';
const BANK = 'https://bank.example';

const travel = resourceConfig(TRAVEL, 'Travel API', ['trips:read', 'trips:book']);
const mail = resourceConfig(MAIL, 'Mail', ['mail:send']);
const bank = resourceConfig(BANK, 'Bank', ['payments:create']);

const agentConfig = (id: string, over: Partial<AgentConfig> = {}): AgentConfig => baseAgent(id, {
  scopes: ['trips:read', 'trips:book', 'mail:send'], audiences: [TRAVEL, MAIL], may_delegate_to: ['hotel-agent'], ...over,
});
const travelAgent = agentConfig('travel-agent');
const hotelAgent = agentConfig('hotel-agent', { may_delegate_to: [] });
const spaAgent = agentConfig('spa-agent', { may_delegate_to: [] });

const resources = new Map([travel, mail, bank].map((r) => [r.uri, r]));
const agents = new Map([travelAgent, hotelAgent, spaAgent].map((a) => [a.id, a]));

const input = (over: Partial<TargetInput> = {}): TargetInput => ({
  agent: travelAgent,
  requested: [],
  resourceByUri: (uri) => resources.get(uri),
  agentById: (id) => agents.get(id),
  ...over,
});

describe('resolveTarget', () => {
  describe('success', () => {
    it('resolves a requested resource from the agent audiences', () => {
      expect(resolveTarget(input({ requested: [MAIL] }))).toEqual({ ok: true, value: { kind: 'resource', uri: MAIL, resource: mail } });
    });

    it('resolves a requested agent from may_delegate_to (task hand-off)', () => {
      expect(resolveTarget(input({ requested: ['hotel-agent'] }))).toEqual({ ok: true, value: { kind: 'agent', id: 'hotel-agent', agent: hotelAgent } });
    });

    it('uses default_audience when nothing is requested', () => {
      expect(resolveTarget(input())).toEqual({ ok: true, value: { kind: 'resource', uri: TRAVEL, resource: travel } });
    });

    it('uses a default_audience that names an agent from may_delegate_to', () => {
      const agent = agentConfig('travel-agent', { default_audience: 'hotel-agent' });
      expect(resolveTarget(input({ agent }))).toEqual({ ok: true, value: { kind: 'agent', id: 'hotel-agent', agent: hotelAgent } });
    });

    it('prefers the requested target over default_audience', () => {
      expect(resolveTarget(input({ requested: [MAIL] }))).toMatchObject({ ok: true, value: { uri: MAIL } });
    });

    it('hands back the registry objects themselves', () => {
      const result = resolveTarget(input({ requested: [MAIL] }));
      expect(result.ok && result.value.kind === 'resource' && result.value.resource).toBe(mail);
    });

    it('reads a value that is both a registered resource and agent as the resource', () => {
      const agent = agentConfig('travel-agent', { audiences: ['x'], may_delegate_to: ['x'] });
      const result = resolveTarget(input({ agent, requested: ['x'], resourceByUri: () => travel, agentById: () => hotelAgent }));
      expect(result).toEqual({ ok: true, value: { kind: 'resource', uri: 'x', resource: travel } });
    });
  });

  describe('refusals (invalid_target)', () => {
    it.each<[string, Partial<TargetInput>, string]>([
      ['two targets', { requested: [TRAVEL, MAIL] }, 'only one target (resource or audience) may be requested'],
      ['the same target twice', { requested: [TRAVEL, TRAVEL] }, 'only one target (resource or audience) may be requested'],
      ['nothing requested and no default_audience', { agent: agentConfig('travel-agent', { default_audience: undefined }) },
        'no resource or audience given and agent travel-agent has no default_audience'],
      ['a registered resource outside the agent audiences', { requested: [BANK] }, `agent travel-agent may not get tokens for ${BANK}`],
      ['a default_audience outside the agent audiences', { agent: agentConfig('travel-agent', { default_audience: BANK }) },
        `agent travel-agent may not get tokens for ${BANK}`],
      ['a registered agent outside may_delegate_to', { requested: ['spa-agent'] }, 'agent travel-agent may not delegate to spa-agent (not in may_delegate_to)'],
      ['the agent itself when it does not list itself', { requested: ['travel-agent'] },
        'agent travel-agent may not delegate to travel-agent (not in may_delegate_to)'],
      ['an unknown value', { requested: ['https://evil.example'] }, 'https://evil.example is neither a registered resource nor a registered agent'],
      ['an agent audience that is not a registered resource', { agent: agentConfig('travel-agent', { audiences: ['https://gone.example'] }), requested: ['https://gone.example'] },
        'https://gone.example is neither a registered resource nor a registered agent'],
      ['a may_delegate_to entry that is not a registered agent', { agent: agentConfig('travel-agent', { may_delegate_to: ['ghost-agent'] }), requested: ['ghost-agent'] },
        'ghost-agent is neither a registered resource nor a registered agent'],
      ['an empty string', { requested: [''] }, '(empty) is neither a registered resource nor a registered agent'],
      ['a look-alike of a registered resource, shown escaped', { requested: ['https://api.tr\u0430vel.example'] },
        'https://api.tr<U+0430>vel.example is neither a registered resource nor a registered agent'],
      ['a value with quotes and control characters, shown escaped', { requested: ['x"\r\ny'] }, 'x<U+0022><U+000D><U+000A>y is neither a registered resource nor a registered agent'],
      ['a default_audience registered nowhere', { agent: agentConfig('travel-agent', { default_audience: 'https://gone.example' }) },
        'https://gone.example is neither a registered resource nor a registered agent'],
    ])('refuses %s', (_case, over, description) => {
      expect(resolveTarget(input(over))).toEqual({ ok: false, error: { error: 'invalid_target', description } });
    });

    it('checks the number of targets before whether they are known', () => {
      expect(resolveTarget(input({ requested: ['https://evil.example', 'nobody'] })))
        .toEqual({ ok: false, error: { error: 'invalid_target', description: 'only one target (resource or audience) may be requested' } });
    });
  });
});

import { describe, expect, it } from '@jest/globals';

import { decideLifetime, MAX_EXCHANGE_TTL, type LifetimeInput } from '../../src/policy/lifetime.js';

// SPEC section 5, rule 7: `exp - iat` ≤ min(agent, tier, resource, 900 s), never past the subject token's `exp`.

const NOW = 1_800_000_000;
const FAR = NOW + 86_400;
const TOO_SOON = { ok: false, error: { error: 'invalid_request', description: 'the subject token expires too soon to issue a token from it' } };

const input = (over: Partial<LifetimeInput> = {}): LifetimeInput => ({
  now: NOW, agentMaxTtl: 500, tierMaxTtl: 600, targetMaxTtl: 700, subjectExp: FAR, ...over,
});

describe('decideLifetime', () => {
  it('caps every exchanged token at 900 s', () => {
    expect(MAX_EXCHANGE_TTL).toBe(900);
  });

  it.each<[string, Partial<LifetimeInput>, number]>([
    ['the agent bound', { agentMaxTtl: 120, tierMaxTtl: 300, targetMaxTtl: 600 }, 120],
    ['the tier bound', { agentMaxTtl: 600, tierMaxTtl: 200, targetMaxTtl: 700 }, 200],
    ['the target bound', { agentMaxTtl: 800, tierMaxTtl: 850, targetMaxTtl: 250 }, 250],
    ['the 900 s cap over a larger tier bound', { agentMaxTtl: undefined, tierMaxTtl: 3600, targetMaxTtl: undefined }, 900],
    ['the 900 s cap over larger agent and target bounds', { agentMaxTtl: 1200, tierMaxTtl: 1000, targetMaxTtl: 1100 }, 900],
    ['the subject token exp', { subjectExp: NOW + 42 }, 42],
    ['the subject token exp one second ahead', { subjectExp: NOW + 1 }, 1],
    ['the tier bound when agent and target set none', { agentMaxTtl: undefined, targetMaxTtl: undefined, tierMaxTtl: 300 }, 300],
    ['a tie between agent and target', { agentMaxTtl: 240, tierMaxTtl: 300, targetMaxTtl: 240 }, 240],
  ])('lets %s win', (_case, over, ttl) => {
    expect(decideLifetime(input(over))).toEqual({ ok: true, value: ttl });
  });

  it('rounds a fractional remainder down (never past exp)', () => {
    expect(decideLifetime(input({ now: NOW + 0.25, subjectExp: NOW + 60 }))).toEqual({ ok: true, value: 59 });
  });

  it.each<[string, number, number]>([
    ['exp == now', NOW, NOW],
    ['exp in the past', NOW, NOW - 10],
    ['less than one second left', NOW + 0.5, NOW + 1],
  ])('refuses a subject token with %s', (_case, now, subjectExp) => {
    expect(decideLifetime(input({ now, subjectExp }))).toEqual(TOO_SOON);
  });
});

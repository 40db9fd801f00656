import { describe, expect, it } from '@jest/globals';

import { decideLifetime, MAX_TOKEN_TTL, type LifetimeInput } from '../../src/policy/lifetime.js';

// SPEC section 5, rule 7: `exp - iat` ≤ min(agent, tier, resource, 900 s), never past the subject token's `exp`.

const NOW = 1_800_000_000;
const FAR = NOW + 86_400;
const tooSoon = (now: number, exp: number): unknown =>
  ({ ok: false, error: { error: 'invalid_request', description: `the subject token expires too soon to issue a token from it (exp ${exp}, now ${now})`, reason: 'subject_expiring' } });

const input = (over: Partial<LifetimeInput> = {}): LifetimeInput => ({
  now: NOW, agentMaxTtl: 500, tierMaxTtl: 600, targetMaxTtl: 700, subjectExp: FAR, ...over,
});

describe('decideLifetime', () => {
  it('caps every exchanged token at 900 s', () => {
    expect(MAX_TOKEN_TTL).toBe(900);
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
    expect(decideLifetime(input({ now, subjectExp }))).toStrictEqual(tooSoon(now, subjectExp));
  });

  it('blames the subject token even when a configured bound is also tiny', () => {
    expect(decideLifetime(input({ agentMaxTtl: 1, subjectExp: NOW }))).toStrictEqual(tooSoon(NOW, NOW));
  });

  it('lets a 1 s configured bound win (the smallest lifetime issued)', () => {
    expect(decideLifetime(input({ targetMaxTtl: 1 }))).toEqual({ ok: true, value: 1 });
  });

  it.each<[string, Partial<LifetimeInput>, string]>([
    ['an agent bound of 0', { agentMaxTtl: 0 }, 'agent max_token_ttl 0 is below 1 s'],
    ['a negative tier bound', { tierMaxTtl: -5 }, 'tier max_token_ttl -5 is below 1 s'],
    ['a fractional target bound under 1 s', { targetMaxTtl: 0.5 }, 'target max_token_ttl 0.5 is below 1 s'],
  ])('fails closed on %s (the schema forbids it; the decision does not rely on that)', (_case, over, detail) => {
    expect(decideLifetime(input(over)))
      .toStrictEqual({ ok: false, error: { error: 'invalid_request', description: `token lifetime cannot be decided: ${detail}`, reason: 'bad_lifetime_input' } });
  });

  it.each<[string, Partial<LifetimeInput>, string]>([
    ['NaN as the agent bound', { agentMaxTtl: Number.NaN }, 'agent max_token_ttl'],
    ['Infinity as the tier bound', { tierMaxTtl: Number.POSITIVE_INFINITY }, 'tier max_token_ttl'],
    ['NaN as the target bound', { targetMaxTtl: Number.NaN }, 'target max_token_ttl'],
    ['NaN as now', { now: Number.NaN }, 'subject token exp'],
    ['NaN as the subject exp', { subjectExp: Number.NaN }, 'subject token exp'],
  ])('fails closed on %s instead of issuing a NaN lifetime', (_case, over, name) => {
    expect(decideLifetime(input(over)))
      .toStrictEqual({ ok: false, error: { error: 'invalid_request', description: `token lifetime cannot be decided: ${name} is not a number`, reason: 'bad_lifetime_input' } });
  });

  it('always answers a whole number of seconds', () => {
    for (const now of [NOW, NOW + 0.1, NOW + 0.999]) {
      const result = decideLifetime(input({ now, agentMaxTtl: undefined, tierMaxTtl: 900, targetMaxTtl: undefined, subjectExp: NOW + 100.7 }));
      expect(result.ok && Number.isInteger(result.value)).toBe(true);
    }
  });
});

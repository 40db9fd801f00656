import { describe, expect, it } from '@jest/globals';

import type { ActClaim } from '../../src/exchange/types.js';
import { actorIds, buildAct, depthOf, type ActInput } from '../../src/policy/act.js';

// SPEC section 4 (`act`: outermost = the agent now acting, identity claims only) and section 5,
// rule 4: a new outermost `{sub: agent}` around the subject token's `act`; re-exchange by the same
// actor keeps the chain; never dropped; depth over max_delegation_depth or an agent twice: refused.

const MANDATE = 'https://mandate.example';
const IDP = 'https://idp.example.com';

/** A chain from ids, outermost first. */
const chain = (...ids: string[]): ActClaim | undefined => ids.reduceRight<ActClaim | undefined>((inner, sub) => ({ sub, ...(inner ? { act: inner } : {}) }), undefined);

const input = (over: Partial<ActInput> = {}): ActInput => ({ agentId: 'a', maxDepth: 3, mandateIssuer: MANDATE, ...over });

const cycle = { ok: false, error: { error: 'invalid_request', description: 'act chain would contain agent a twice (cycle)', reason: 'act_cycle' } };
const tooDeep = (depth: number, max: number): unknown =>
  ({ ok: false, error: { error: 'invalid_request', description: `act chain depth ${depth} exceeds max_delegation_depth ${max}`, reason: 'act_depth' } });

describe('actorIds and depthOf', () => {
  it.each<[ActClaim | undefined, string[]]>([
    [undefined, []],
    [{ sub: 'a' }, ['a']],
    [chain('a', 'b', 'c'), ['a', 'b', 'c']],
    [{ sub: 'a', iss: MANDATE, act: { sub: 'b', iss: IDP } }, ['a', 'b']],
  ])('%j → %j', (act, ids) => {
    expect(actorIds(act)).toEqual(ids);
    expect(depthOf(act)).toBe(ids.length);
  });
});

describe('buildAct', () => {
  describe('a new outermost actor', () => {
    it('starts a chain when the subject token has no act', () => {
      expect(buildAct(input())).toStrictEqual({ ok: true, value: { sub: 'a' } });
    });

    it('wraps the subject chain, keeping it whole', () => {
      expect(buildAct(input({ subjectAct: chain('b', 'c') }))).toStrictEqual({ ok: true, value: { sub: 'a', act: { sub: 'b', act: { sub: 'c' } } } });
    });

    it('keeps the iss of inner entries', () => {
      const subjectAct: ActClaim = { sub: 'b', iss: MANDATE, act: { sub: 'u1', iss: IDP } };
      expect(buildAct(input({ subjectAct }))).toStrictEqual({ ok: true, value: { sub: 'a', act: { sub: 'b', iss: MANDATE, act: { sub: 'u1', iss: IDP } } } });
    });

    it('strips members other than sub, iss and act at every level', () => {
      const wider = { sub: 'b', client_id: 'b', scope: 'trips:book', act: { sub: 'c', exp: 1, act: { sub: 'd', iss: MANDATE, jti: 'x' } } };
      const subjectAct: ActClaim = wider;
      expect(buildAct(input({ subjectAct, maxDepth: 4 })))
        .toStrictEqual({ ok: true, value: { sub: 'a', act: { sub: 'b', act: { sub: 'c', act: { sub: 'd', iss: MANDATE } } } } });
    });

    it('treats an entry with the same sub from a foreign issuer as someone else', () => {
      expect(buildAct(input({ subjectAct: { sub: 'a', iss: IDP } }))).toStrictEqual({ ok: true, value: { sub: 'a', act: { sub: 'a', iss: IDP } } });
      expect(buildAct(input({ subjectAct: { sub: 'b', act: { sub: 'a', iss: IDP } } })))
        .toStrictEqual({ ok: true, value: { sub: 'a', act: { sub: 'b', act: { sub: 'a', iss: IDP } } } });
    });
  });

  describe('re-exchange by the same actor', () => {
    it.each<[string, ActClaim]>([
      ['alone', { sub: 'a' }],
      ['with a chain', { sub: 'a', act: { sub: 'b', act: { sub: 'c' } } }],
      ['naming Mandate as iss', { sub: 'a', iss: MANDATE, act: { sub: 'b' } }],
    ])('keeps the chain exactly (%s)', (_case, subjectAct) => {
      const result = buildAct(input({ subjectAct }));
      expect(result).toStrictEqual({ ok: true, value: subjectAct });
      expect(result.ok && result.value).not.toBe(subjectAct);
    });

    it('keeps a chain already at the depth limit (does not add a level)', () => {
      expect(buildAct(input({ subjectAct: chain('a', 'b', 'c'), maxDepth: 3 }))).toStrictEqual({ ok: true, value: chain('a', 'b', 'c') });
    });

    it('still strips members other than sub, iss and act', () => {
      const wider = { sub: 'a', client_id: 'a', act: { sub: 'b', scope: 'x' } };
      const subjectAct: ActClaim = wider;
      expect(buildAct(input({ subjectAct }))).toStrictEqual({ ok: true, value: { sub: 'a', act: { sub: 'b' } } });
    });
  });

  describe('cycles', () => {
    it.each<[string, ActClaim]>([
      ['one level down', { sub: 'b', act: { sub: 'a' } }],
      ['deeper in the chain', { sub: 'b', act: { sub: 'c', act: { sub: 'a' } } }],
      ['deeper, with Mandate as iss', { sub: 'b', act: { sub: 'c', act: { sub: 'a', iss: MANDATE } } }],
    ])('refuses the agent appearing %s', (_case, subjectAct) => {
      expect(buildAct(input({ subjectAct, maxDepth: 10 }))).toStrictEqual(cycle);
    });

    it('reports the cycle before the depth', () => {
      expect(buildAct(input({ subjectAct: chain('b', 'c', 'a'), maxDepth: 2 }))).toStrictEqual(cycle);
    });
  });

  describe('depth', () => {
    it.each<[number, string[]]>([
      [1, []],
      [2, ['b']],
      [3, ['b', 'c']],
      [10, ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']],
    ])('accepts a chain of exactly max_delegation_depth %i', (maxDepth, inner) => {
      const result = buildAct(input({ subjectAct: chain(...inner), maxDepth }));
      expect(result).toStrictEqual({ ok: true, value: chain('a', ...inner) });
      expect(depthOf(result.ok ? result.value : undefined)).toBe(maxDepth);
    });

    it.each<[number, string[]]>([
      [1, ['b']],
      [2, ['b', 'c']],
      [3, ['b', 'c', 'd']],
      [10, ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']],
    ])('refuses a chain one over max_delegation_depth %i', (maxDepth, inner) => {
      expect(buildAct(input({ subjectAct: chain(...inner), maxDepth }))).toStrictEqual(tooDeep(maxDepth + 1, maxDepth));
    });
  });
});

describe('buildAct: the result is checked however it was built', () => {
  const cycleOf = (who: string): unknown =>
    ({ ok: false, error: { error: 'invalid_request', description: `act chain would contain ${who} twice (cycle)`, reason: 'act_cycle' } });

  it.each<[string, ActClaim, string]>([
    ['another agent twice in the subject chain', chain('b', 'c', 'b')!, 'actor b'],
    ['another agent twice, once with Mandate as iss', { sub: 'b', act: { sub: 'b', iss: MANDATE } }, 'actor b'],
    ['an external actor twice at the same issuer', { sub: 'u1', iss: IDP, act: { sub: 'u1', iss: IDP } }, 'actor u1'],
    ['an actor with a look-alike id, shown escaped', chain('x\u0430', 'x\u0430')!, 'actor x<U+0430>'],
  ])('refuses %s', (_case, subjectAct, who) => {
    expect(buildAct(input({ subjectAct, maxDepth: 10 }))).toStrictEqual(cycleOf(who));
  });

  it('tells actors apart by issuer: the same sub at two issuers is no cycle', () => {
    const subjectAct: ActClaim = { sub: 'u1', iss: IDP, act: { sub: 'u1', iss: 'https://other-idp.example' } };
    expect(buildAct(input({ subjectAct }))).toStrictEqual({ ok: true, value: { sub: 'a', act: subjectAct } });
  });

  it('refuses a re-exchange whose kept chain has the agent twice', () => {
    expect(buildAct(input({ subjectAct: chain('a', 'b', 'a'), maxDepth: 10 }))).toStrictEqual(cycle);
  });

  it('refuses a re-exchange whose kept chain is over the limit (the limit may have been lowered since)', () => {
    expect(buildAct(input({ subjectAct: chain('a', 'b', 'c', 'd'), maxDepth: 3 }))).toStrictEqual(tooDeep(4, 3));
  });

  it('builds new objects: the answer shares nothing with the subject chain', () => {
    const subjectAct = chain('b', 'c')!;
    const result = buildAct(input({ subjectAct }));
    expect(result.ok && result.value.act).not.toBe(subjectAct);
    expect(result.ok && result.value.act?.act).not.toBe(subjectAct.act);
  });

  it('refuses every chain when max_delegation_depth is below 1', () => {
    expect(buildAct(input({ maxDepth: 0 }))).toStrictEqual(tooDeep(1, 0));
  });
});

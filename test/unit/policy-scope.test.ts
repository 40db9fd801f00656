import { describe, expect, it } from '@jest/globals';

import type { Result } from '../../src/exchange/types.js';
import { decideScope, visible, type ScopeInput } from '../../src/policy/scope.js';

const input = (over: Partial<ScopeInput> = {}): ScopeInput => ({
  requested: [],
  subjectScope: ['trips:read', 'trips:book', 'mail:read'],
  agentScopes: ['trips:read', 'trips:book', 'mail:read'],
  targetScopes: ['trips:read', 'trips:book'],
  ...over,
});

const refusal = (result: Result<unknown>): { error: string; description: string } => {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.value)}`);
  return { error: result.error.error, description: result.error.description };
};

describe('decideScope: requested scopes', () => {
  it('issues exactly what was requested when every constraint allows it', () => {
    expect(decideScope(input({ requested: ['trips:book'] }))).toEqual({ ok: true, value: ['trips:book'] });
  });

  it('keeps the requested order and drops duplicates', () => {
    expect(decideScope(input({ requested: ['trips:book', 'trips:read', 'trips:book'] }))).toEqual({ ok: true, value: ['trips:book', 'trips:read'] });
  });

  it.each<[string, Partial<ScopeInput>, string]>([
    ['the subject token', { subjectScope: ['trips:read'] }, 'scope trips:book is not granted by the subject token'],
    ['the agent', { agentScopes: ['trips:read'] }, "scope trips:book is not among the agent's scopes"],
    ['the target', { targetScopes: ['trips:read'] }, "scope trips:book is not among the target's scopes"],
    ['the delegation', { delegationScopes: ['trips:read'] }, 'scope trips:book is not covered by the delegation'],
  ])('refuses a scope that %s does not allow, never dropping it silently', (_, over, description) => {
    expect(refusal(decideScope(input({ requested: ['trips:read', 'trips:book'], ...over })))).toEqual({ error: 'invalid_scope', description });
  });

  it('names the first constraint a scope fails, in the order subject, agent, target, delegation', () => {
    const none = { subjectScope: [], agentScopes: [], targetScopes: [], delegationScopes: [] };
    expect(refusal(decideScope(input({ requested: ['trips:read'], ...none }))).description).toBe('scope trips:read is not granted by the subject token');
    expect(refusal(decideScope(input({ requested: ['trips:read'], ...none, subjectScope: ['trips:read'] }))).description)
      .toBe("scope trips:read is not among the agent's scopes");
    expect(refusal(decideScope(input({ requested: ['trips:read'], ...none, subjectScope: ['trips:read'], agentScopes: ['trips:read'] }))).description)
      .toBe("scope trips:read is not among the target's scopes");
  });

  it('names the first offending scope in request order', () => {
    expect(refusal(decideScope(input({ requested: ['trips:read', 'x:one', 'x:two'] }))).description).toBe('scope x:one is not granted by the subject token');
  });

  it('puts no constraint from a subject token without a scope claim', () => {
    const { subjectScope: _omitted, ...noScopeClaim } = input({ requested: ['trips:book'] });
    expect(decideScope(noScopeClaim)).toEqual({ ok: true, value: ['trips:book'] });
  });

  it('treats an empty subject scope list as a constraint that allows nothing', () => {
    expect(refusal(decideScope(input({ requested: ['trips:read'], subjectScope: [] })))).toEqual({ error: 'invalid_scope', description: 'scope trips:read is not granted by the subject token' });
  });

  it('never widens: a scope in every list but the delegation is refused when a delegation is the basis', () => {
    expect(decideScope(input({ requested: ['trips:book'] })).ok).toBe(true);
    expect(decideScope(input({ requested: ['trips:book'], delegationScopes: ['trips:read'] })).ok).toBe(false);
  });
});

describe('decideScope: scope syntax (RFC 6749 scope-token)', () => {
  it('refuses a Cyrillic look-alike, showing the foreign characters', () => {
    const lookAlike = 'trips:b\u043e\u043ek';
    expect(refusal(decideScope(input({ requested: [lookAlike], targetScopes: [lookAlike], agentScopes: [lookAlike], subjectScope: [lookAlike] })))).toEqual({
      error: 'invalid_scope',
      description: 'scope trips:b<U+043E><U+043E>k is not a valid scope token (printable ASCII without spaces, quotes or backslashes)',
    });
  });

  it.each([
    ['a double quote', 'a"b', 'a<U+0022>b'],
    ['a backslash', 'a\\b', 'a<U+005C>b'],
    ['a space', 'a b', 'a<U+0020>b'],
    ['a control character', 'a\nb', 'a<U+000A>b'],
    ['DEL', 'a\x7Fb', 'a<U+007F>b'],
    ['an emoji (astral code point)', 'a\u{1F600}', 'a<U+1F600>'],
    ['an empty string', '', '(empty)'],
  ])('refuses %s', (_, scope, shown) => {
    expect(refusal(decideScope(input({ requested: ['trips:read', scope] })))).toEqual({
      error: 'invalid_scope',
      description: `scope ${shown} is not a valid scope token (printable ASCII without spaces, quotes or backslashes)`,
    });
  });

  it('refuses trips:read spelt with a Cyrillic а (U+0430), the whole answer exact', () => {
    expect(decideScope(input({ requested: ['trips:re\u0430d'] }))).toStrictEqual({
      ok: false,
      error: { error: 'invalid_scope', description: 'scope trips:re<U+0430>d is not a valid scope token (printable ASCII without spaces, quotes or backslashes)' },
    });
  });

  it('cuts a long malformed scope in the description', () => {
    expect(refusal(decideScope(input({ requested: [`${'a'.repeat(70)} `] }))).description)
      .toBe(`scope ${'a'.repeat(64)}... is not a valid scope token (printable ASCII without spaces, quotes or backslashes)`);
  });

  it('checks syntax before constraints, so a look-alike is reported as malformed even after an ungranted scope', () => {
    expect(refusal(decideScope(input({ requested: ['x:unknown', 'trips:re\u0430d'] }))).description).toMatch(/^scope trips:re<U\+0430>d is not a valid scope token/);
  });

  it('accepts every printable ASCII character the grammar allows', () => {
    const edge = '!#[]~:/.-_';
    expect(decideScope(input({ requested: [edge], subjectScope: [edge], agentScopes: [edge], targetScopes: [edge] }))).toEqual({ ok: true, value: [edge] });
  });
});

describe('decideScope: nothing requested', () => {
  it('issues the full intersection in the order of the target scopes', () => {
    expect(decideScope(input({ subjectScope: ['trips:book', 'trips:read'], targetScopes: ['trips:read', 'trips:book'] })))
      .toEqual({ ok: true, value: ['trips:read', 'trips:book'] });
  });

  it('intersects every constraint, the delegation included', () => {
    expect(decideScope(input({ delegationScopes: ['trips:book'] }))).toEqual({ ok: true, value: ['trips:book'] });
    expect(decideScope(input({ agentScopes: ['trips:read'] }))).toEqual({ ok: true, value: ['trips:read'] });
    expect(decideScope(input({ subjectScope: ['trips:read'] }))).toEqual({ ok: true, value: ['trips:read'] });
  });

  it('deduplicates target scopes', () => {
    expect(decideScope(input({ targetScopes: ['trips:read', 'trips:read'] }))).toEqual({ ok: true, value: ['trips:read'] });
  });

  it('without a subject scope claim, gives agent ∩ target', () => {
    const { subjectScope: _omitted, ...rest } = input({ agentScopes: ['trips:book', 'mail:read'] });
    expect(decideScope(rest)).toEqual({ ok: true, value: ['trips:book'] });
  });

  it.each<[string, Partial<ScopeInput>, string]>([
    ['all four', { delegationScopes: ['mail:read'], targetScopes: ['trips:read'], agentScopes: ['trips:book'] },
      'the subject token, the agent, the target and the delegation'],
    ['agent and target only', { subjectScope: undefined, agentScopes: ['mail:read'] }, 'the agent and the target'],
  ])('refuses an empty intersection of %s', (_, over, sources) => {
    expect(decideScope(input(over))).toStrictEqual({ ok: false, error: { error: 'invalid_scope', description: `no scope was requested and ${sources} have no scope in common` } });
  });

  it('refuses an empty intersection, naming the constraints that took part', () => {
    expect(refusal(decideScope(input({ subjectScope: ['mail:read'] })))).toEqual({
      error: 'invalid_scope',
      description: 'no scope was requested and the subject token, the agent and the target have no scope in common',
    });
    const { subjectScope: _omitted, ...rest } = input({ agentScopes: ['mail:read'], delegationScopes: ['trips:read'] });
    expect(refusal(decideScope(rest))).toEqual({
      error: 'invalid_scope',
      description: 'no scope was requested and the agent, the target and the delegation have no scope in common',
    });
  });
});

describe('decideScope: purity', () => {
  it('does not mutate its inputs', () => {
    const given = input({ requested: ['trips:read', 'trips:read'], delegationScopes: ['trips:read'] });
    const copy = structuredClone(given);
    decideScope(given);
    decideScope({ ...given, requested: [] });
    expect(given).toEqual(copy);
  });

  it('returns a new array, not one of its inputs', () => {
    const targetScopes = ['trips:read'];
    const result = decideScope(input({ targetScopes, subjectScope: undefined }));
    expect(result.ok && result.value).not.toBe(targetScopes);
  });
});

describe('visible', () => {
  it('leaves plain scope-token characters as they are', () => {
    expect(visible('https://api.example/x?y=1')).toBe('https://api.example/x?y=1');
  });

  it('cuts long values at 64 characters', () => {
    expect(visible('a'.repeat(64))).toBe('a'.repeat(64));
    expect(visible('a'.repeat(65))).toBe(`${'a'.repeat(64)}...`);
  });

  it('only ever yields characters RFC 6749 allows in error_description', () => {
    const shown = visible('"\\\u0000\u00e9\u202e x');
    expect(shown).toMatch(/^[\x20\x21\x23-\x5B\x5D-\x7E]*$/);
    expect(shown).toBe('<U+0022><U+005C><U+0000><U+00E9><U+202E><U+0020>x');
  });
});

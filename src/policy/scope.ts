import { fail, ok, type Result } from '../exchange/types.js';

export interface ScopeInput {
  requested: readonly string[];
  /** Undefined when the subject token carries no scope claim: no constraint from it. */
  subjectScope?: readonly string[];
  agentScopes: readonly string[];
  /** The resource's scopes, or for an agent target that agent's scopes. */
  targetScopes: readonly string[];
  /** Only when a delegation is the basis. */
  delegationScopes?: readonly string[];
}

/** RFC 6749 appendix A.4 scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const SHOWN_MAX = 64;

/**
 * An untrusted value as it may appear in an error_description. RFC 6749 section 5.2 allows only
 * printable ASCII without `"` and `\` there, so anything else (a Cyrillic look-alike, a control
 * character, a space) is written as <U+XXXX>: visible, and never a second meaning. Long values are cut.
 */
export function visible(value: string): string {
  if (value === '') return '(empty)';
  const chars = [...value];
  const shown = chars.slice(0, SHOWN_MAX)
    .map((c) => (/^[\x21\x23-\x5B\x5D-\x7E]$/.test(c) ? c : `<U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}>`))
    .join('');
  return chars.length > SHOWN_MAX ? `${shown}...` : shown;
}

/**
 * SPEC rule 6: issued ⊆ requested ∩ subject ∩ agent ∩ target ∩ delegation. A requested scope
 * outside any of them is refused, naming the first constraint it fails; never widened, never
 * silently dropped. Nothing requested: the full intersection, in the target's order.
 */
export function decideScope(input: ScopeInput): Result<string[]> {
  // Syntax first: a look-alike must be reported as such, not as "not granted".
  const malformed = input.requested.find((scope) => !SCOPE_TOKEN.test(scope));
  if (malformed !== undefined) {
    return fail('invalid_scope', `scope ${visible(malformed)} is not a valid scope token (printable ASCII without spaces, quotes or backslashes)`);
  }
  const constraints: [string, readonly string[] | undefined][] = [
    ['is not granted by the subject token', input.subjectScope],
    ["is not among the agent's scopes", input.agentScopes],
    ["is not among the target's scopes", input.targetScopes],
    ['is not covered by the delegation', input.delegationScopes],
  ];
  const allowedEverywhere = (scope: string): boolean => constraints.every(([, allowed]) => allowed === undefined || allowed.includes(scope));

  for (const scope of input.requested) {
    const failed = constraints.find(([, allowed]) => allowed !== undefined && !allowed.includes(scope));
    if (failed) return fail('invalid_scope', `scope ${scope} ${failed[0]}`);
  }
  if (input.requested.length > 0) return ok([...new Set(input.requested)]);

  const issued = [...new Set(input.targetScopes)].filter(allowedEverywhere);
  if (issued.length === 0) {
    const sources = ['the subject token', 'the agent', 'the target', 'the delegation'].filter((_, i) => constraints[i]![1] !== undefined);
    // The agent and the target are always constraints, so there are at least two sources.
    return fail('invalid_scope', `no scope was requested and ${sources.slice(0, -1).join(', ')} and ${sources.at(-1)} have no scope in common`);
  }
  return ok(issued);
}

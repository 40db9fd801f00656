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

/**
 * SPEC rule 6: issued ⊆ requested ∩ subject ∩ agent ∩ target ∩ delegation. A requested scope
 * outside any of them is refused, naming the first constraint it fails; never widened, never
 * silently dropped. Nothing requested: the full intersection.
 */
export function decideScope(input: ScopeInput): Result<string[]> {
  for (const scope of input.requested) {
    if (!SCOPE_TOKEN.test(scope)) return fail('invalid_scope', `scope ${JSON.stringify(scope).replace(/[^\x20-\x7E]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)} is not a valid scope token (printable ASCII only)`);
  }
  const constraints: [string, readonly string[] | undefined][] = [
    ['the subject token', input.subjectScope],
    ["the agent's scopes", input.agentScopes],
    ['the target', input.targetScopes],
    ['the delegation', input.delegationScopes],
  ];
  for (const scope of input.requested) {
    const failed = constraints.find(([, allowed]) => allowed !== undefined && !allowed.includes(scope));
    if (failed) return fail('invalid_scope', `scope ${scope} is not granted by ${failed[0]}`);
  }
  const candidates = input.requested.length > 0 ? input.requested : input.targetScopes;
  const issued = [...new Set(candidates)].filter((scope) => constraints.every(([, allowed]) => allowed === undefined || allowed.includes(scope)));
  if (issued.length === 0) return fail('invalid_scope', 'no scope is allowed by the subject token, the agent, the target and the delegation together');
  return ok(issued);
}

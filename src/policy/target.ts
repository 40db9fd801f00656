import type { AgentConfig, Resource } from '../config/policy-schema.js';
import { fail, ok, type Result } from '../exchange/types.js';
import { visible } from './scope.js';

/** Where the new token may be used: a registered resource, or another agent (task hand-off). */
export type Target = { kind: 'resource'; uri: string; resource: Resource } | { kind: 'agent'; id: string; agent: AgentConfig };

export interface TargetInput {
  agent: AgentConfig;
  /** `resource` and `audience` values together. */
  requested: readonly string[];
  resourceByUri(uri: string): Resource | undefined;
  agentById(id: string): AgentConfig | undefined;
}

/**
 * SPEC rule 5: one registered resource from the agent's `audiences`, or an agent from its
 * `may_delegate_to`; none requested: the agent's `default_audience`, checked the same way (a
 * stale default is refused, not trusted); anything else: invalid_target. Resources are looked
 * up first: a resource uri is a URL and cannot be an agent id.
 */
export function resolveTarget(input: TargetInput): Result<Target> {
  const { agent, requested } = input;
  if (requested.length > 1) return fail('invalid_target', 'only one target (resource or audience) may be requested');
  const value = requested[0] ?? agent.default_audience;
  if (value === undefined) return fail('invalid_target', `no resource or audience given and agent ${agent.id} has no default_audience`);

  const resource = input.resourceByUri(value);
  if (resource) {
    return agent.audiences.includes(value)
      ? ok({ kind: 'resource', uri: value, resource })
      : fail('invalid_target', `agent ${agent.id} may not get tokens for ${value}`);
  }
  const other = input.agentById(value);
  if (other) {
    return agent.may_delegate_to.includes(value)
      ? ok({ kind: 'agent', id: value, agent: other })
      : fail('invalid_target', `agent ${agent.id} may not delegate to ${value} (not in may_delegate_to)`);
  }
  // Registered nowhere, so nothing vouches for this value: it is shown escaped.
  return fail('invalid_target', `${visible(value)} is neither a registered resource nor a registered agent`);
}

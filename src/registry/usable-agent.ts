import type { AgentConfig, Policy } from '../config/policy-schema.js';
import type { Result } from '../exchange/types.js';
import { checkAgentState } from '../policy/agent-state.js';
import { reviewDue, type AgentRecord } from './records.js';
import type { Registry } from './registry.js';

/**
 * SPEC rule 8 with the registry lookups it needs (the agent, unless the caller already has it, and
 * its owner): one place for client authentication, token exchange and introspection to decide
 * whether an agent may still be used. With `governance.suspend_overdue`, an agent overdue for
 * review is refused here as well as suspended by the sweep.
 */
export async function usableAgent(
  registry: Registry, policy: Pick<Policy, 'tiers' | 'governance'>, clientId: string, now: number, loaded?: AgentRecord,
): Promise<Result<AgentConfig>> {
  const agent = loaded ?? await registry.agent(clientId);
  const owner = agent && await registry.user(agent.owner);
  const reviewDueAt = agent && policy.governance.suspend_overdue
    ? Math.floor(Date.parse(reviewDue(agent, policy.tiers[agent.tier].review_interval_days)) / 1000)
    : undefined;
  const state = checkAgentState({ clientId, ...(agent ? { agent } : {}), ...(owner ? { owner } : {}), now, ...(reviewDueAt !== undefined ? { reviewDueAt } : {}) });
  return state.ok ? { ok: true, value: agent! } : state;
}

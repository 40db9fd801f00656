import type { AgentConfig } from '../config/policy-schema.js';
import type { Result } from '../exchange/types.js';
import { checkAgentState } from '../policy/agent-state.js';
import type { Registry } from './registry.js';

/**
 * SPEC rule 8 with the registry lookups it needs (the agent and its owner): one place for both
 * token exchange and introspection to decide whether an agent may still be used.
 */
export async function usableAgent(registry: Registry, clientId: string, now: number): Promise<Result<AgentConfig>> {
  const agent = await registry.agent(clientId);
  const owner = agent && await registry.user(agent.owner);
  const state = checkAgentState({ clientId, ...(agent ? { agent } : {}), ...(owner ? { owner } : {}), now });
  return state.ok ? { ok: true, value: agent! } : state;
}

import type { AgentConfig, UserConfig } from '../config/policy-schema.js';
import { fail, ok, type Result } from '../exchange/types.js';

export interface AgentStateInput {
  /** The authenticated client_id (the registry found `agent` under it, if anything). */
  clientId: string;
  agent?: AgentConfig;
  owner?: UserConfig;
  /** Epoch seconds. */
  now: number;
  /** When the agent's review falls due (epoch seconds), if overdue reviews suspend (`governance.suspend_overdue`). */
  reviewDueAt?: number;
}

/** One answer for every case, so a caller cannot probe which ids exist or why one is refused. */
const GENERIC = 'client authentication failed or the client may not be used';

/**
 * SPEC rule 8: unknown, suspended, retired, expired or orphaned agents (and, when the governance
 * rules say so, agents overdue for review) get invalid_client; `reason`
 * tells the audit trail which. Fails closed: an agent record under another id counts as unknown,
 * an unreadable expires_at as expired, and an owner record that is not the agent's owner as no owner.
 */
export function checkAgentState(input: AgentStateInput): Result<void> {
  const { clientId, agent, owner, now, reviewDueAt } = input;
  if (!agent || agent.id !== clientId) return fail('invalid_client', GENERIC, 'unknown_agent');
  if (agent.status === 'suspended') return fail('invalid_client', GENERIC, 'agent_suspended');
  if (agent.status === 'retired') return fail('invalid_client', GENERIC, 'agent_retired');
  if (agent.expires_at !== undefined && !(Date.parse(agent.expires_at) / 1000 > now)) return fail('invalid_client', GENERIC, 'agent_expired');
  if (!owner || owner.id !== agent.owner || owner.status !== 'active') return fail('invalid_client', GENERIC, 'owner_inactive');
  if (reviewDueAt !== undefined && !(reviewDueAt > now)) return fail('invalid_client', GENERIC, 'review_overdue');
  return ok(undefined);
}

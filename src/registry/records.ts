import type { AgentConfig, UserConfig } from '../config/policy-schema.js';
import type { DelegationGrant } from '../policy/authorization.js';

/**
 * What the registry stores: the policy file's shapes (same field names, SPEC section 8) plus
 * bookkeeping. Records are durable; a retired agent and a revoked delegation stay as tombstones.
 */
export interface RecordMeta {
  created_at: string;
  updated_at: string;
  /** Where the record came from first: the policy file (loaded at start-up), the admin API or a consent approval. */
  source: 'policy' | 'admin' | 'approval';
}

export type AgentRecord = AgentConfig & RecordMeta & {
  /** Why the agent is in its current state, e.g. `orphaned`, `review_overdue`, `expired`, `admin`. */
  status_reason?: string;
  last_reviewed_at?: string;
  last_reviewed_by?: string;
  retired_at?: string;
};

export type UserRecord = UserConfig & RecordMeta;

/** What a delegation says, with the policy file's field names. */
export interface DelegationFields {
  /** The delegating user, or else `subject`. */
  user?: string;
  subject?: { iss: string; sub: string };
  agent: string;
  scopes: string[];
  audiences: string[];
  expires_at?: string;
}

export interface DelegationRecord extends RecordMeta, DelegationFields {
  id: string;
  /** The consent approval that created it, when one did. */
  approval_id?: string;
  status: 'active' | 'revoked';
  revoked_at?: string;
}

/** A delegation record as the authorization policy's input (only active ones are ever handed over). */
export function toGrant(record: DelegationRecord): DelegationGrant {
  return {
    id: record.id,
    ...(record.user !== undefined ? { userId: record.user } : {}),
    ...(record.subject !== undefined ? { subject: record.subject } : {}),
    agent: record.agent,
    scopes: record.scopes,
    audiences: record.audiences,
    ...(record.expires_at !== undefined ? { expiresAt: Math.floor(Date.parse(record.expires_at) / 1000) } : {}),
  };
}

/** When the agent's next review is due: last review (or creation) + its tier's interval. */
export function reviewDue(agent: AgentRecord, reviewIntervalDays: number): string {
  const from = Date.parse(agent.last_reviewed_at ?? agent.created_at);
  return new Date(from + reviewIntervalDays * 86_400_000).toISOString();
}

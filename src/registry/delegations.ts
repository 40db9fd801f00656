import { createHash } from 'node:crypto';

import type { Policy } from '../config/policy-schema.js';
import type { DelegationGrant } from '../policy/authorization.js';

/** A stable id for a delegation declared without one: a digest of its content. */
function contentId(content: unknown): string {
  return `dlg_${createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 16)}`;
}

/** Delegations of the policy file as policy inputs. */
export function policyDelegations(policy: Policy): DelegationGrant[] {
  return policy.delegations.map((d) => ({
    id: d.id ?? contentId({ user: d.user, subject: d.subject, agent: d.agent, scopes: d.scopes, audiences: d.audiences }),
    ...(d.user !== undefined ? { userId: d.user } : {}),
    ...(d.subject !== undefined ? { subject: d.subject } : {}),
    agent: d.agent,
    scopes: d.scopes,
    audiences: d.audiences,
    ...(d.expires_at !== undefined ? { expiresAt: Math.floor(Date.parse(d.expires_at) / 1000) } : {}),
  }));
}

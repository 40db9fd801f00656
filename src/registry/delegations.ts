import { createHash } from 'node:crypto';

import type { Policy } from '../config/policy-schema.js';
import type { DelegationFields } from './records.js';

/** A stable id for a delegation declared without one: a digest of its content. */
function contentId(content: unknown): string {
  return `dlg_${createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 16)}`;
}

/** Delegations of the policy file, each with its id (declared, or derived from the content). */
export function policyDelegations(policy: Policy): (DelegationFields & { id: string })[] {
  return policy.delegations.map(({ id, ...fields }) => ({
    id: id ?? contentId({ user: fields.user, subject: fields.subject, agent: fields.agent, scopes: fields.scopes, audiences: fields.audiences }),
    ...fields,
  }));
}

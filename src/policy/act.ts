import type { ActClaim } from '../exchange/types.js';
import { fail, ok, type Result } from '../exchange/types.js';

export interface ActInput {
  agentId: string;
  subjectAct?: ActClaim;
  maxDepth: number;
  mandateIssuer: string;
}

/** Agent ids of a chain, outermost first. */
export function actorIds(act?: ActClaim): string[] {
  const ids: string[] = [];
  for (let entry = act; entry; entry = entry.act) ids.push(entry.sub);
  return ids;
}

export const depthOf = (act?: ActClaim): number => actorIds(act).length;

/** A copy holding identity claims only (`sub`, `iss`), whatever else the input carried. */
function identityOnly(act: ActClaim): ActClaim {
  return { sub: act.sub, ...(act.iss !== undefined ? { iss: act.iss } : {}), ...(act.act ? { act: identityOnly(act.act) } : {}) };
}

const isMandateAgent = (entry: ActClaim, id: string, issuer: string): boolean => entry.sub === id && (entry.iss === undefined || entry.iss === issuer);

/**
 * SPEC rule 4: a new outermost `{sub: agent}` around the subject's chain; the same actor
 * re-exchanging keeps the chain as it is; the chain is never dropped; an agent appearing twice
 * (a cycle) or a chain longer than `maxDepth` is refused.
 */
export function buildAct(input: ActInput): Result<ActClaim> {
  const { agentId, subjectAct, maxDepth, mandateIssuer } = input;
  if (subjectAct && isMandateAgent(subjectAct, agentId, mandateIssuer)) return ok(identityOnly(subjectAct));
  for (let entry = subjectAct; entry; entry = entry.act) {
    if (isMandateAgent(entry, agentId, mandateIssuer)) {
      return fail('invalid_request', `act chain would contain agent ${agentId} twice (cycle)`, 'act_cycle');
    }
  }
  const act: ActClaim = { sub: agentId, ...(subjectAct ? { act: identityOnly(subjectAct) } : {}) };
  const depth = depthOf(act);
  if (depth > maxDepth) return fail('invalid_request', `act chain depth ${depth} exceeds max_delegation_depth ${maxDepth}`, 'act_depth');
  return ok(act);
}

import type { ActClaim } from '../exchange/types.js';
import { fail, ok, type Result } from '../exchange/types.js';
import { visible } from './scope.js';

export interface ActInput {
  /** The authenticated agent, about to become the outermost actor. */
  agentId: string;
  /** The `act` of the (validated) subject token, when it has one. */
  subjectAct?: ActClaim;
  /** `limits.max_delegation_depth`: most actors a chain may hold. */
  maxDepth: number;
  mandateIssuer: string;
}

type Actor = { sub: string; iss?: string };

/** The entries of a chain, outermost first, as identity claims only (`sub`, `iss`). */
function entriesOf(act?: ActClaim): Actor[] {
  const entries: Actor[] = [];
  for (let entry = act; entry; entry = entry.act) entries.push(entry.iss === undefined ? { sub: entry.sub } : { sub: entry.sub, iss: entry.iss });
  return entries;
}

/** Agent ids of a chain, outermost first. */
export function actorIds(act?: ActClaim): string[] {
  return entriesOf(act).map((entry) => entry.sub);
}

/** Number of actors in a chain (0 without `act`). */
export const depthOf = (act?: ActClaim): number => entriesOf(act).length;

/** An actor without `iss` is one of Mandate's agents, so `iss` absent and `iss` = Mandate are the same actor. */
const actorKey = (entry: Actor, mandateIssuer: string): string => JSON.stringify([entry.iss ?? mandateIssuer, entry.sub]);

/**
 * SPEC rule 4: a new outermost `{sub: agent}` around the subject's chain; the same actor
 * re-exchanging keeps the chain as it is; the chain is never dropped. The result is checked
 * whichever way it was built (a chain from another issuer is not trusted to be sound): an actor
 * appearing twice is a cycle, more than `maxDepth` actors is too deep. The output carries
 * identity claims only, whatever else the input held.
 */
export function buildAct(input: ActInput): Result<ActClaim> {
  const { agentId, subjectAct, maxDepth, mandateIssuer } = input;
  const self: Actor = { sub: agentId };
  const inner = entriesOf(subjectAct);
  const selfKey = actorKey(self, mandateIssuer);
  const reExchange = inner[0] !== undefined && actorKey(inner[0], mandateIssuer) === selfKey;
  const entries = reExchange ? inner : [self, ...inner];

  const seen = new Set<string>();
  for (const entry of entries) {
    const key = actorKey(entry, mandateIssuer);
    if (seen.has(key)) {
      const who = key === selfKey ? `agent ${agentId}` : `actor ${visible(entry.sub)}`;
      return fail('invalid_request', `act chain would contain ${who} twice (cycle)`, 'act_cycle');
    }
    seen.add(key);
  }
  if (entries.length > maxDepth) {
    return fail('invalid_request', `act chain depth ${entries.length} exceeds max_delegation_depth ${maxDepth}`, 'act_depth');
  }

  let act: ActClaim | undefined;
  for (const entry of entries.reverse()) act = act === undefined ? { ...entry } : { ...entry, act };
  return ok(act!);
}

import { fail, ok, type Result } from '../exchange/types.js';

/** No exchanged token lives longer than this (SPEC rule 7). */
export const MAX_EXCHANGE_TTL = 900;

export interface LifetimeInput {
  now: number;
  agentMaxTtl?: number;
  tierMaxTtl: number;
  targetMaxTtl?: number;
  subjectExp: number;
}

/** SPEC rule 7: min(agent, tier, target, 900 s) and never past the subject token's `exp`. */
export function decideLifetime(input: LifetimeInput): Result<number> {
  const bounds = [input.tierMaxTtl, MAX_EXCHANGE_TTL, input.subjectExp - input.now];
  if (input.agentMaxTtl !== undefined) bounds.push(input.agentMaxTtl);
  if (input.targetMaxTtl !== undefined) bounds.push(input.targetMaxTtl);
  const ttl = Math.floor(Math.min(...bounds));
  if (ttl < 1) return fail('invalid_request', 'the subject token expires too soon to issue a token from it');
  return ok(ttl);
}

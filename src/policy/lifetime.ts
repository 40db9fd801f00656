import { fail, ok, type Result } from '../exchange/types.js';

/** No access token Mandate issues lives longer than this (SPEC section 5, rule 7). */
export const MAX_TOKEN_TTL = 900;

export interface LifetimeInput {
  /** Epoch seconds. */
  now: number;
  agentMaxTtl?: number;
  tierMaxTtl: number;
  targetMaxTtl?: number;
  /** The subject token's `exp` (epoch seconds): the new token never outlives it. */
  subjectExp: number;
}

/** The bounds a request brings to rule 7, without the clock; `subjectExp` is absent when no subject token is involved (CIBA). */
export type LifetimeBounds = Omit<LifetimeInput, 'now' | 'subjectExp'> & { subjectExp?: number };

/**
 * SPEC rule 7: min(agent, tier, target, 900 s, time the subject token has left), in whole
 * seconds rounded down so that `iat + ttl` never passes the subject's `exp`. Fails closed: a
 * bound that is not a finite number, or a lifetime under 1 s, refuses the exchange.
 */
export function decideLifetime(input: LifetimeInput): Result<number> {
  const left = input.subjectExp - input.now;
  const bounds: [string, number | undefined][] = [
    ['agent max_token_ttl', input.agentMaxTtl],
    ['tier max_token_ttl', input.tierMaxTtl],
    ['target max_token_ttl', input.targetMaxTtl],
    ['subject token exp', left],
  ];
  const broken = bounds.find(([, value]) => value !== undefined && !Number.isFinite(value));
  if (broken) return fail('invalid_request', `token lifetime cannot be decided: ${broken[0]} is not a number`, 'bad_lifetime_input');

  const ttl = Math.floor(Math.min(MAX_TOKEN_TTL, ...bounds.flatMap(([, value]) => (value === undefined ? [] : [value]))));
  if (ttl >= 1) return ok(ttl);
  if (Math.floor(left) === ttl) {
    return fail('invalid_request', `the subject token expires too soon to issue a token from it (exp ${input.subjectExp}, now ${input.now})`, 'subject_expiring');
  }
  // Only a misconfigured bound gets here: the policy schema requires positive lifetimes.
  const [name, value] = bounds.find(([, v]) => v !== undefined && Math.floor(v) === ttl)!;
  return fail('invalid_request', `token lifetime cannot be decided: ${name} ${value} is below 1 s`, 'bad_lifetime_input');
}

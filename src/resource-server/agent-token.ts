import type { JWTPayload } from 'jose';

import { AgentTokenError } from './errors.js';

/** One actor in the delegation chain (SPEC section 4: identity claims only). */
export interface Actor {
  readonly sub: string;
  readonly iss?: string;
}

/** One RFC 9396 authorization detail: the task the token was issued for. */
export interface AuthorizationDetail {
  type: string;
  [field: string]: unknown;
}

/** The human approval behind the token (present only when one was needed and given). */
export interface Approval {
  readonly id: string;
  /** `phr` for a Mandate passkey approval. */
  readonly acr?: string;
  readonly amr?: readonly string[];
  /** When the approver authenticated (seconds since the epoch). */
  readonly authTime?: number;
}

/**
 * A verified agent token, as a resource server wants to read it. Frozen: the same object is
 * handed to every request that presents the token while it is cached.
 */
export interface AgentToken {
  /** The human (or service) the agent acts for; `issuer` is `sub_iss` when not Mandate. */
  readonly subject: { readonly id: string; readonly issuer: string };
  /** The agent presenting the token (`client_id`). */
  readonly agent: string;
  /** `act`, outermost first: `[0]` is the agent acting now, the rest earlier agents. Empty without `act`. */
  readonly actorChain: readonly Actor[];
  readonly scopes: readonly string[];
  readonly audience: string;
  /** `authorization_details`: the task (empty when none). */
  readonly task: readonly AuthorizationDetail[];
  readonly approval?: Approval;
  readonly jti: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** The thumbprint of the DPoP key the token is bound to (`cnf.jkt`). */
  readonly dpopJkt?: string;
  /** Every claim, as signed. */
  readonly claims: Readonly<JWTPayload>;
}

/** Deeper chains than this are refused outright (Mandate's own limit is lower). */
const MAX_CHAIN = 16;

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const bad = (claim: string, expected: string): AgentTokenError => new AgentTokenError('claims_invalid', `the token's ${claim} claim must be ${expected}`);

/** Reads a signature-checked payload into an AgentToken; refuses claims of the wrong shape. */
export function toAgentToken(claims: JWTPayload, issuer: string): AgentToken {
  const { sub, client_id: agent, jti, iat, exp, aud, scope, sub_iss: subIss } = claims as JWTPayload & Record<string, unknown>;
  if (!isString(sub)) throw bad('sub', 'a string');
  if (!isString(agent)) throw bad('client_id', 'a string');
  if (!isString(jti)) throw bad('jti', 'a string');
  if (typeof iat !== 'number') throw bad('iat', 'a number');
  if (typeof exp !== 'number') throw bad('exp', 'a number');
  if (scope !== undefined && typeof scope !== 'string') throw bad('scope', 'a space-separated string');
  if (subIss !== undefined && !isString(subIss)) throw bad('sub_iss', 'a string');

  const token: { -readonly [K in keyof AgentToken]: AgentToken[K] } = {
    subject: { id: sub, issuer: subIss ?? issuer },
    agent,
    actorChain: actorChain(claims.act),
    scopes: scope ? scope.split(' ').filter(Boolean) : [],
    audience: Array.isArray(aud) ? aud[0]! : aud!,
    task: task(claims.authorization_details),
    jti, issuedAt: iat, expiresAt: exp,
    claims,
  };
  const approval = approvalOf(claims);
  if (approval) token.approval = approval;
  const cnf = claims.cnf as { jkt?: unknown } | undefined;
  if (cnf !== undefined) {
    if (typeof cnf !== 'object' || cnf === null || !isString(cnf.jkt)) throw bad('cnf', 'an object with a jkt');
    token.dpopJkt = cnf.jkt;
  }
  return deepFreeze(token);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

function actorChain(act: unknown): Actor[] {
  const chain: Actor[] = [];
  for (let node = act; node !== undefined; node = (node as { act?: unknown }).act) {
    if (typeof node !== 'object' || node === null || !isString((node as Actor).sub)) throw bad('act', 'nested objects with a sub');
    if (chain.length === MAX_CHAIN) throw bad('act', `at most ${MAX_CHAIN} deep`);
    const { sub, iss } = node as Actor;
    if (iss !== undefined && !isString(iss)) throw bad('act', 'nested objects whose iss is a string');
    chain.push(iss === undefined ? { sub } : { sub, iss });
  }
  return chain;
}

function task(details: unknown): AuthorizationDetail[] {
  if (details === undefined) return [];
  if (!Array.isArray(details) || !details.every((d) => typeof d === 'object' && d !== null && isString((d as AuthorizationDetail).type))) {
    throw bad('authorization_details', 'an array of objects with a type');
  }
  return details as AuthorizationDetail[];
}

function approvalOf(claims: JWTPayload): Approval | undefined {
  const { approval_id: id, acr, amr, auth_time: authTime } = claims as Record<string, unknown>;
  if (id === undefined) return undefined;
  if (!isString(id)) throw bad('approval_id', 'a string');
  if (acr !== undefined && !isString(acr)) throw bad('acr', 'a string');
  if (amr !== undefined && !(Array.isArray(amr) && amr.every(isString))) throw bad('amr', 'an array of strings');
  if (authTime !== undefined && typeof authTime !== 'number') throw bad('auth_time', 'a number');
  return { id, ...(acr ? { acr } : {}), ...(amr ? { amr } : {}), ...(authTime !== undefined ? { authTime } : {}) };
}

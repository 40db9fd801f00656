import type { ActClaim, AuthorizationDetail } from '../exchange/types.js';
import { agentTokensKey, delegationTokensKey, tokenChildrenKey, tokenKey } from '../store/keys.js';
import type { Store, WriteOp } from '../store/store.js';

/**
 * The server-side record of every JWT access token Mandate issues. JWTs are self-contained, so
 * oidc-provider keeps nothing for them; this record is what makes introspection and revocation
 * possible. It lives exactly as long as the token.
 */
export interface TokenRecord {
  jti: string;
  client_id: string;
  sub: string;
  aud: string;
  scope: string;
  iat: number;
  exp: number;
  /** The token this one was minted from (token exchange), or null for a root token. */
  parent_jti: string | null;
  /** How it was obtained, e.g. `client_credentials`. */
  grant_type: string;
  act?: ActClaim;
  authorization_details?: AuthorizationDetail[];
  cnf?: { jkt: string };
  /** The delegation that allowed this hop (its audiences and scopes bound later hops). */
  delegation_id?: string;
  /** Issuer of `sub` when it is not Mandate. */
  sub_iss?: string;
  /** After a human approval (SPEC section 6): the approval, and how and when the approver authenticated. */
  approval_id?: string;
  acr?: string;
  amr?: string[];
  auth_time?: number;
  /** Set once, when revoked (epoch seconds). */
  revoked_at?: number;
}

/** A child's depth is bounded by max_delegation_depth; this guards the walk regardless. */
const MAX_CASCADE_DEPTH = 16;

export class TokenRecords {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  /**
   * The writes that store a record and link it: under its parent (revocation cascades down),
   * under its delegation and under its agent (revoking either revokes it). The record comes
   * first so nothing ever points at a missing record.
   */
  writes(record: TokenRecord): WriteOp[] {
    const ttlSeconds = Math.max(1, record.exp - this.now());
    const ops: WriteOp[] = [{ op: 'set', key: tokenKey(record.jti), value: JSON.stringify(record), ttlSeconds }];
    if (record.parent_jti) ops.push({ op: 'addToSet', key: tokenChildrenKey(record.parent_jti), member: record.jti, ttlSeconds });
    if (record.delegation_id) ops.push({ op: 'addToSet', key: delegationTokensKey(record.delegation_id), member: record.jti, ttlSeconds });
    ops.push({ op: 'addToSet', key: agentTokensKey(record.client_id), member: record.jti, ttlSeconds });
    return ops;
  }

  async get(jti: string): Promise<TokenRecord | undefined> {
    const raw = await this.store.get(tokenKey(jti));
    return raw === null ? undefined : (JSON.parse(raw) as TokenRecord);
  }

  /** Active = stored, not revoked, not expired. */
  isActive(record: TokenRecord | undefined): record is TokenRecord {
    return record !== undefined && record.revoked_at === undefined && record.exp > this.now();
  }

  /** Revokes every token issued under a delegation, with their subtrees. */
  async revokeByDelegation(delegationId: string): Promise<string[]> {
    return this.#revokeAll(await this.store.setMembers(delegationTokensKey(delegationId)));
  }

  /** Revokes every token issued to an agent, with their subtrees (retirement). */
  async revokeByAgent(agentId: string): Promise<string[]> {
    return this.#revokeAll(await this.store.setMembers(agentTokensKey(agentId)));
  }

  async #revokeAll(jtis: string[]): Promise<string[]> {
    const revoked: string[] = [];
    for (const jti of jtis) revoked.push(...(await this.revoke(jti)));
    return revoked;
  }

  /**
   * Revokes a token and every token minted from it (the whole subtree). Returns the jtis newly
   * revoked. Idempotent: revoking twice changes nothing.
   */
  async revoke(jti: string): Promise<string[]> {
    const revoked: string[] = [];
    let frontier = [jti];
    for (let depth = 0; depth < MAX_CASCADE_DEPTH && frontier.length > 0; depth += 1) {
      const next: string[] = [];
      for (const current of frontier) {
        const outcome = await this.store.setJsonFieldIfAbsent(tokenKey(current), 'revoked_at', this.now());
        if (outcome === 'set') revoked.push(current);
        next.push(...(await this.store.setMembers(tokenChildrenKey(current))));
      }
      frontier = next;
    }
    return revoked;
  }
}

import type { Store } from '../store/store.js';
import { tokenChildrenKey, tokenKey } from '../store/keys.js';

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
  act?: Record<string, unknown>;
  authorization_details?: unknown[];
  cnf?: { jkt: string };
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

  /** Stores the record (and links it under its parent) with a TTL of the token's remaining life. */
  async put(record: TokenRecord): Promise<void> {
    const ttl = Math.max(1, record.exp - this.now());
    await this.store.set(tokenKey(record.jti), JSON.stringify(record), { ttlSeconds: ttl });
    if (record.parent_jti) {
      await this.store.addToSet(tokenChildrenKey(record.parent_jti), record.jti, ttl);
    }
  }

  async get(jti: string): Promise<TokenRecord | undefined> {
    const raw = await this.store.get(tokenKey(jti));
    return raw === null ? undefined : (JSON.parse(raw) as TokenRecord);
  }

  /** Active = stored, not revoked, not expired. */
  isActive(record: TokenRecord | undefined): record is TokenRecord {
    return record !== undefined && record.revoked_at === undefined && record.exp > this.now();
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

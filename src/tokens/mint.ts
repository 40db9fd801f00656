import { randomBytes } from 'node:crypto';

import type { AuditInput, AuditTrail } from '../audit/trail.js';
import type { KeyStore } from '../keys/keystore.js';
import type { TokenRecord, TokenRecords } from './records.js';
import { signJws } from './sign.js';

/** What a grant decided; `mint` turns it into a signed RFC 9068 JWT and its stored record. */
/** Claims a token may carry besides RFC 9068's, stored in its record too. */
export type TokenExtras = Partial<Pick<TokenRecord, 'act' | 'authorization_details' | 'cnf' | 'sub_iss' | 'approval_id' | 'acr' | 'amr' | 'auth_time'>>;

export interface TokenGrant {
  clientId: string;
  sub: string;
  aud: string;
  scope: string;
  ttlSeconds: number;
  grantType: string;
  parentJti?: string;
  delegationId?: string;
  /** Claims beyond RFC 9068's; they go into the token and its record alike. */
  extraClaims?: TokenExtras;
}

export interface MintedToken {
  accessToken: string;
  record: TokenRecord;
  expiresIn: number;
}

export interface Minter {
  /**
   * `events(record)` are the audit events of the issuance (at least `token.issued`): they are
   * stored in the same round trip as the record, and the token is returned only when all of it is.
   */
  mint(grant: TokenGrant, events: (record: TokenRecord) => readonly AuditInput[]): Promise<MintedToken>;
}

/**
 * Signs with the current key and stores the record and its audit events before returning: no
 * token leaves Mandate without both (SPEC section 10). A store failure propagates (503 upstream).
 */
export function createMinter(deps: { issuer: string; keys: KeyStore; records: TokenRecords; audit: AuditTrail; now?: () => number }): Minter {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  return {
    async mint(grant, events) {
      const iat = now();
      const exp = iat + grant.ttlSeconds;
      const jti = randomBytes(18).toString('base64url');
      const { kid, alg, key } = deps.keys.signingKey();
      const record: TokenRecord = {
        jti,
        client_id: grant.clientId,
        sub: grant.sub,
        aud: grant.aud,
        scope: grant.scope,
        iat,
        exp,
        parent_jti: grant.parentJti ?? null,
        grant_type: grant.grantType,
        ...(grant.delegationId ? { delegation_id: grant.delegationId } : {}),
        ...grant.extraClaims,
      };
      const claims = {
        ...grant.extraClaims, iss: deps.issuer, sub: grant.sub, aud: grant.aud, client_id: grant.clientId, scope: grant.scope, iat, exp, jti,
      };
      const accessToken = signJws({ typ: 'at+jwt', kid }, claims, alg, key);
      await deps.audit.record(events(record), { with: deps.records.writes(record) });
      return { accessToken, record, expiresIn: grant.ttlSeconds };
    },
  };
}

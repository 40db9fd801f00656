/**
 * The key schema: every key Mandate writes is built here, so the layout is documented in one
 * place (the README's key table mirrors these comments) and never assembled by hand.
 *
 * The part in braces is a Redis Cluster hash tag: only it is hashed to pick the slot. Each id gets
 * its own tag, so keys spread over the cluster, and keys that one operation touches together (a
 * token record and its children set) share a tag and therefore a slot.
 */

/** Namespace of every key, so Mandate can share a Redis with other applications. */
export const KEY_PREFIX = 'mandate:';

/** A hash tag around an id; an empty id would make the whole key the tag, so it is refused. */
function tag(id: string): string {
  if (id.length === 0) throw new TypeError('store key ids must not be empty');
  return `{${id}}`;
}

/**
 * `mandate:oidc:<Model>:{<id>}` — an oidc-provider model instance (Session, Grant,
 * AuthorizationCode, RefreshToken, Interaction…) as JSON, written by the adapter with its TTL.
 */
export function oidcModelKey(model: string, id: string): string {
  return `${KEY_PREFIX}oidc:${model}:${tag(id)}`;
}

/**
 * `mandate:oidc:grant:{<grantId>}` — set of the model keys issued under one grant, so that
 * revoking the grant finds every token; lives as long as its longest-lived member.
 */
export function oidcGrantKey(grantId: string): string {
  return `${KEY_PREFIX}oidc:grant:${tag(grantId)}`;
}

/** `mandate:oidc:userCode:{<userCode>}` — device flow user code → DeviceCode id. */
export function oidcUserCodeKey(userCode: string): string {
  return `${KEY_PREFIX}oidc:userCode:${tag(userCode)}`;
}

/** `mandate:oidc:uid:{<uid>}` — session uid → Session id. */
export function oidcUidKey(uid: string): string {
  return `${KEY_PREFIX}oidc:uid:${tag(uid)}`;
}

/**
 * `mandate:token:{<jti>}` — the record of an issued agent token (JSON), kept until the token
 * expires so it can be introspected, revoked and traced.
 */
export function tokenKey(jti: string): string {
  return `${KEY_PREFIX}token:${tag(jti)}`;
}

/**
 * `mandate:token:{<jti>}:children` — set of the jtis of tokens exchanged from this one, so
 * revocation cascades down a delegation chain. Same hash slot as `tokenKey(jti)`.
 */
export function tokenChildrenKey(jti: string): string {
  return `${tokenKey(jti)}:children`;
}

/**
 * `mandate:delegation:{<id>}:tokens` — jtis of tokens issued under a delegation, so revoking the
 * delegation revokes them; lives as long as the longest of them.
 */
export function delegationTokensKey(delegationId: string): string {
  return `${KEY_PREFIX}delegation:${tag(delegationId)}:tokens`;
}

/** `mandate:agent:{<id>}:tokens` — jtis of tokens issued to an agent (retiring it revokes them). */
export function agentTokensKey(agentId: string): string {
  return `${KEY_PREFIX}agent:${tag(agentId)}:tokens`;
}

/** `mandate:dpop:{<jkt>}:<jti>` — a DPoP proof already used (RFC 9449 replay check), for its window. */
export function dpopProofKey(jkt: string, jti: string): string {
  return `${KEY_PREFIX}dpop:${tag(jkt)}:${jti}`;
}

/** `mandate:audit:{<id>}` — one audit event (JSON), kept for the retention period. */
export function auditEventKey(id: string): string {
  return `${KEY_PREFIX}audit:${tag(id)}`;
}

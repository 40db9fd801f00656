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

/*
 * The registry: agents, users and delegations created by the admin API or loaded from the policy
 * file. These records are durable (no TTL): a retired agent's record stays as a tombstone so its
 * id can never be reused. Index sets list ids; a reader skips ids whose record is missing.
 */

/** `mandate:registry:agent:{<id>}` — an agent record (JSON), durable. */
export function registryAgentKey(id: string): string {
  return `${KEY_PREFIX}registry:agent:${tag(id)}`;
}

/** `mandate:registry:user:{<id>}` — a user record (JSON), durable. */
export function registryUserKey(id: string): string {
  return `${KEY_PREFIX}registry:user:${tag(id)}`;
}

/** `mandate:registry:delegation:{<id>}` — a delegation record (JSON, revoked ones kept), durable. */
export function registryDelegationKey(id: string): string {
  return `${KEY_PREFIX}registry:delegation:${tag(id)}`;
}

/** `mandate:registry:{agents|users|delegations}` — set of every id of that kind (listing, the sweep). */
export function registryIndexKey(kind: 'agents' | 'users' | 'delegations'): string {
  return `${KEY_PREFIX}registry:${tag(kind)}`;
}

/** `mandate:registry:user:{<id>}:agents` — ids of the agents a user owns (orphaning on deactivation). */
export function userAgentsKey(userId: string): string {
  return `${registryUserKey(userId)}:agents`;
}

/** `mandate:registry:agent:{<id>}:delegations` — ids of the active delegations to an agent. */
export function agentDelegationsKey(agentId: string): string {
  return `${registryAgentKey(agentId)}:delegations`;
}

/**
 * `mandate:registry:subject:{<digest>}` — external identity → user id. The digest is SHA-256 of
 * `iss` and `sub`, so any issuer URL fits a key.
 */
export function subjectUserKey(digest: string): string {
  return `${KEY_PREFIX}registry:subject:${tag(digest)}`;
}

/**
 * `mandate:shadow:{<digest>}` — one shadow-agent sighting record (JSON): a claimed client id that
 * is unknown, suspended or retired. Keyed by a digest of the claimed id, which the caller chose.
 */
export function shadowAgentKey(digest: string): string {
  return `${KEY_PREFIX}shadow:${tag(digest)}`;
}

/** `mandate:shadow:{<digest>}:audited` — set while a sighting's audit event is fresh (throttle). */
export function shadowAuditedKey(digest: string): string {
  return `${shadowAgentKey(digest)}:audited`;
}

/** `mandate:shadow:{index}` — set of the digests of every sighting record (bounded). */
export function shadowIndexKey(): string {
  return `${KEY_PREFIX}shadow:${tag('index')}`;
}

/** `mandate:lock:{<name>}` — a short lease so one instance at a time runs a periodic job. */
export function lockKey(name: string): string {
  return `${KEY_PREFIX}lock:${tag(name)}`;
}

/*
 * Human approvals (SPEC section 6): approval requests, passkeys and WebAuthn ceremonies.
 */

/** `mandate:approval:{<id>}` — an approval request (JSON), kept a day past its expiry for polls and the admin API. */
export function approvalKey(id: string): string {
  return `${KEY_PREFIX}approval:${tag(id)}`;
}

/** `mandate:approval:{<id>}:poll` — set while the agent must wait before polling again (CIBA `interval`). */
export function approvalPollKey(id: string): string {
  return `${approvalKey(id)}:poll`;
}

/** `mandate:approval:{index}` — ids of recent approval requests (the admin list; missing records are pruned). */
export function approvalIndexKey(): string {
  return `${KEY_PREFIX}approval:${tag('index')}`;
}

/** `mandate:passkey:{<credential id>}` — one passkey (WebAuthn credential) record (JSON), durable. */
export function passkeyKey(credentialId: string): string {
  return `${KEY_PREFIX}passkey:${tag(credentialId)}`;
}

/** `mandate:registry:user:{<id>}:passkeys` — credential ids of a user's passkeys, durable. */
export function userPasskeysKey(userId: string): string {
  return `${registryUserKey(userId)}:passkeys`;
}

/** `mandate:registry:user:{<id>}:handle` — the user's WebAuthn user handle (random, base64url), durable. */
export function userHandleKey(userId: string): string {
  return `${registryUserKey(userId)}:handle`;
}

/** `mandate:enroll:{<digest>}` — a passkey enrollment link (JSON), keyed by SHA-256 of its token; single use. */
export function enrollmentKey(digest: string): string {
  return `${KEY_PREFIX}enroll:${tag(digest)}`;
}

/** `mandate:webauthn:challenge:{<challenge>}` — an outstanding WebAuthn challenge (JSON), ≤ 5 minutes, single use. */
export function challengeKey(challenge: string): string {
  return `${KEY_PREFIX}webauthn:challenge:${tag(challenge)}`;
}

/**
 * `mandate:audit:{<writer>}` — one writer's audit chain (a Redis Stream; entry id `<position>-0`,
 * fields `h` link and `b` body). Durable; trimmed by retention behind an anchor.
 */
export function auditChainKey(writer: string): string {
  return `${KEY_PREFIX}audit:${tag(writer)}`;
}

/** `mandate:audit:{<writer>}:anchor` — signed record of where retention cut that chain. */
export function auditAnchorKey(writer: string): string {
  return `${auditChainKey(writer)}:anchor`;
}

/** `mandate:audit:{writers}` — set of every writer id that has a chain. */
export function auditWritersKey(): string {
  return `${KEY_PREFIX}audit:{writers}`;
}

/** `mandate:audit:{checkpoints}` — set of signed checkpoints (the end of every chain at a time). */
export function auditCheckpointsKey(): string {
  return `${KEY_PREFIX}audit:{checkpoints}`;
}

/** `mandate:audit:token:{<jti>}` — `<writer> <position>` of a token's `token.issued` event (trace). */
export function auditTokenKey(jti: string): string {
  return `${KEY_PREFIX}audit:token:${tag(jti)}`;
}

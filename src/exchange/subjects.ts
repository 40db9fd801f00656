import { createHash } from 'node:crypto';

import type { Policy } from '../config/policy-schema.js';
import type { DelegationGrant, SubjectIdentity } from '../policy/authorization.js';
import type { VerifiedToken } from './types.js';

/**
 * Who the subject token is about. A Mandate token names a Mandate user (or carries `sub_iss`
 * for an external subject); an external token is mapped to a user through `users[].subjects`.
 */
export function subjectIdentity(token: VerifiedToken, policy: Policy, mandateIssuer: string): SubjectIdentity {
  if (token.mandateIssued) {
    if (token.subIss !== undefined) return { iss: token.subIss, sub: token.sub };
    const user = policy.users.find((u) => u.id === token.sub);
    return user ? { iss: mandateIssuer, sub: token.sub, userId: user.id } : { iss: mandateIssuer, sub: token.sub };
  }
  const user = policy.users.find((u) => u.subjects.some((s) => s.iss === token.issuer && s.sub === token.sub));
  return user ? { iss: token.issuer, sub: token.sub, userId: user.id } : { iss: token.issuer, sub: token.sub };
}

/** `sub` and `sub_iss` of the new token: the Mandate user when known, else the external subject. */
export function newSubject(identity: SubjectIdentity, mandateIssuer: string): { sub: string; subIss?: string } {
  if (identity.userId !== undefined) return { sub: identity.userId };
  return identity.iss === mandateIssuer ? { sub: identity.sub } : { sub: identity.sub, subIss: identity.iss };
}

/** A stable id for a delegation declared without one: a digest of its content. */
function contentId(content: unknown): string {
  return `dlg_${createHash('sha256').update(JSON.stringify(content)).digest('base64url').slice(0, 16)}`;
}

/** Delegations of the policy file as policy inputs. */
export function policyDelegations(policy: Policy): DelegationGrant[] {
  return policy.delegations.map((d) => ({
    id: d.id ?? contentId({ user: d.user, subject: d.subject, agent: d.agent, scopes: d.scopes, audiences: d.audiences }),
    ...(d.user !== undefined ? { userId: d.user } : {}),
    ...(d.subject !== undefined ? { subject: d.subject } : {}),
    agent: d.agent,
    scopes: d.scopes,
    audiences: d.audiences,
    ...(d.expires_at !== undefined ? { expiresAt: Math.floor(Date.parse(d.expires_at) / 1000) } : {}),
  }));
}

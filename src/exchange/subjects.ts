import type { SubjectIdentity } from '../policy/authorization.js';
import type { Registry } from '../registry/registry.js';
import { must } from './errors.js';
import { fail, type VerifiedToken } from './types.js';

/**
 * Who the subject token is about. A Mandate token names a Mandate user (or carries `sub_iss`
 * for an external subject); an external token is mapped to a user through `users[].subjects`.
 * A deactivated user allows nothing: no agent may act for them.
 */
export async function subjectIdentity(token: VerifiedToken, registry: Registry, mandateIssuer: string): Promise<SubjectIdentity> {
  if (token.mandateIssued && token.subIss !== undefined) return { iss: token.subIss, sub: token.sub };
  const iss = token.mandateIssued ? mandateIssuer : token.issuer;
  const user = token.mandateIssued ? await registry.user(token.sub) : await registry.userBySubject(token.issuer, token.sub);
  if (user && user.status !== 'active') must(fail('invalid_request', `subject_token is for user ${user.id}, who is deactivated`, 'subject_deactivated'));
  return user ? { iss, sub: token.sub, userId: user.id } : { iss, sub: token.sub };
}

/** `sub` and `sub_iss` of the new token: the Mandate user when known, else the external subject. */
export function newSubject(identity: SubjectIdentity, mandateIssuer: string): { sub: string; subIss?: string } {
  if (identity.userId !== undefined) return { sub: identity.userId };
  return identity.iss === mandateIssuer ? { sub: identity.sub } : { sub: identity.sub, subIss: identity.iss };
}

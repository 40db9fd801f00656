import type { SubjectIdentity } from '../policy/authorization.js';
import type { Registry } from '../registry/registry.js';
import type { VerifiedToken } from './types.js';

/**
 * Who the subject token is about. A Mandate token names a Mandate user (or carries `sub_iss`
 * for an external subject); an external token is mapped to a user through `users[].subjects`.
 */
export async function subjectIdentity(token: VerifiedToken, registry: Registry, mandateIssuer: string): Promise<SubjectIdentity> {
  if (token.mandateIssued) {
    if (token.subIss !== undefined) return { iss: token.subIss, sub: token.sub };
    const user = await registry.user(token.sub);
    return user ? { iss: mandateIssuer, sub: token.sub, userId: user.id } : { iss: mandateIssuer, sub: token.sub };
  }
  const user = await registry.userBySubject(token.issuer, token.sub);
  return user ? { iss: token.issuer, sub: token.sub, userId: user.id } : { iss: token.issuer, sub: token.sub };
}

/** `sub` and `sub_iss` of the new token: the Mandate user when known, else the external subject. */
export function newSubject(identity: SubjectIdentity, mandateIssuer: string): { sub: string; subIss?: string } {
  if (identity.userId !== undefined) return { sub: identity.userId };
  return identity.iss === mandateIssuer ? { sub: identity.sub } : { sub: identity.sub, subIss: identity.iss };
}

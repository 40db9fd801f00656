import { readFileSync } from 'node:fs';

import { describe, expect, it } from '@jest/globals';

/**
 * Conformance map: each SPEC section 5 rule and each RFC 8693 section Mandate relies on, with
 * the tests that prove it. This test fails when a mapped test is renamed or removed, so the map
 * cannot silently rot; the mapped tests themselves run in their own files.
 */
const POSITIVE = 'test/integration/token-exchange.test.ts';
const REFUSALS = 'test/integration/token-exchange-refusals.test.ts';
const VERIFY = 'test/unit/verify-token.test.ts';
const INTROSPECTION = 'test/integration/introspection-revocation.test.ts';
const SHADOW = 'test/integration/shadow-agents.test.ts';
const LIFECYCLE = 'test/integration/lifecycle.test.ts';
const APPROVALS = 'test/integration/approvals-flow.test.ts';
const CEREMONIES = 'test/integration/approvals-webauthn.test.ts';

const MAP: Record<string, [file: string, title: string][]> = {
  'SPEC 5 rule 1 (subject token validation)': [
    [POSITIVE, 'user token from a trusted issuer → agent token a resource server verifies with jose'],
    [REFUSALS, 'alg none'], [REFUSALS, 'HS256 signed with the public key (algorithm confusion)'], [REFUSALS, 'unknown kid'],
    [REFUSALS, 'a %s header'], [REFUSALS, 'a crit header'], [REFUSALS, 'wrong typ for the declared type'],
    [REFUSALS, 'declared type mismatch (a type the issuer is not trusted for)'], [REFUSALS, 'expired'],
    [REFUSALS, 'nbf in the future beyond the skew'], [REFUSALS, 'untrusted issuer'], [REFUSALS, 'trusted issuer with the wrong aud'],
    [REFUSALS, 'oversized token (checked before parsing)'], [REFUSALS, 'a revoked Mandate subject token'],
    [REFUSALS, 'a valid-looking token signed by another key with the right kid'],
  ],
  'SPEC 5 rule 2 (who may act for the subject)': [
    [POSITIVE, 'may_act naming the agent authorizes it without a delegation'],
    [POSITIVE, 'a two-hop chain: A hands the task to B, B exchanges for the resource: act {B, act {A}}'],
    [REFUSALS, 'no delegation for this subject and agent'], [REFUSALS, 'an expired delegation'],
    [REFUSALS, "re-delegation by an agent not in the previous actor's may_delegate_to"],
  ],
  'SPEC 5 rule 3 (actor_token)': [
    [POSITIVE, 'an actor_token identifying the authenticated agent is accepted'],
    [REFUSALS, 'actor_token of another agent'], [REFUSALS, 'subject and actor swapped'],
    [REFUSALS, 'subject from chain 1 with an actor token from chain 2'],
  ],
  'SPEC 5 rule 4 (act chain)': [
    [POSITIVE, 'a two-hop chain: A hands the task to B, B exchanges for the resource: act {B, act {A}}'],
    [POSITIVE, 're-exchange by the same actor keeps the chain as it is'],
    [REFUSALS, 'a cycle: A acting again below D in the chain'], [REFUSALS, 'depth over the limit'],
    [REFUSALS, 'depth over the limit along a real chain A → B → C → D'], [REFUSALS, 'an attempt to drop act: a malformed act claim'],
    [REFUSALS, 'an act chain naming an unregistered agent'],
  ],
  'SPEC 5 rule 5 (target)': [
    [POSITIVE, 'no scope requested gives the full intersection; the default audience applies'],
    [REFUSALS, 'two targets'], [REFUSALS, 'resource and audience naming different targets'], [REFUSALS, 'an unregistered target'],
    [REFUSALS, 'an agent outside may_delegate_to'],
  ],
  'SPEC 5 rule 6 (scope)': [
    [POSITIVE, 'no scope requested gives the full intersection; the default audience applies'],
    [REFUSALS, 'scope escalation beyond the subject token'], [REFUSALS, 'scope beyond the delegation'],
    [REFUSALS, 'scope of another resource'], [REFUSALS, 'a non-ASCII look-alike scope'],
  ],
  'SPEC 5 rule 7 (lifetime, token types)': [
    [POSITIVE, 'lifetime is capped by the subject token exp, the agent, the tier and the resource'],
    [REFUSALS, 'requested_token_type refresh_token'],
  ],
  'SPEC 5 rule 8 (agent state)': [
    [REFUSALS, 'suspended, retired, expired and orphaned agents get the answer an unknown id or a wrong secret gets'], [REFUSALS, 'unknown client'], [REFUSALS, 'no client authentication'],
    [SHADOW, 'registered agents that may not be used are listed with why: suspended, retired, expired, orphaned'],
    [SHADOW, 'audit events are written for sightings, but throttled per id and reason'],
    [LIFECYCLE, 'an agent past expires_at is refused at use time before any sweep; the sweep retires it (expired) and audits it'],
  ],
  'SPEC 5 rule 9 (approval needed)': [
    [APPROVALS, 'tier-1 agent: 400 authorization_pending with auth_req_id, expires_in, interval and approval_uri'],
    [APPROVALS, 'tier-2 agent: a high-risk scope needs an approval, a low-risk one is issued directly'],
    [APPROVALS, 'creates a delegation on approval, then exchanges need no approval; revoking it revokes the tokens'],
    [APPROVALS, 'the token carries the approval; the trail is requested → approved → token.issued → redeemed; a second poll is invalid_grant'],
    [REFUSALS, 'an approval whose approver has no passkey is refused, never skipped'],
    [CEREMONIES, ''],
  ],
  'SPEC 5 rule 10 (response)': [
    [POSITIVE, 'user token from a trusted issuer → agent token a resource server verifies with jose'],
    [POSITIVE, 'requested_token_type jwt is honoured in issued_token_type'],
  ],
  'SPEC 5 rule 11 (errors)': [
    [REFUSALS, 'a plain client (not an agent) is unauthorized_client'], [REFUSALS, 'duplicate subject_token parameters'],
    ['test/integration/store-outage.test.ts', 'answers 503 on /readyz and temporarily_unavailable at the token endpoint within 2 s, then recovers'],
    ['test/integration/store-outage.test.ts', 'answers 503 temporarily_unavailable, returns no token, and exchanges again once Redis is back'],
  ],
  'SPEC 5 revocation and introspection': [
    [POSITIVE, 'revoking a parent kills its children: introspection and a further exchange both fail'],
    [POSITIVE, 'revoking a delegation revokes the tokens issued under it, down the chain'],
    [POSITIVE, 'retiring an agent revokes its tokens and the tokens minted from them'],
    [INTROSPECTION, 'after revocation, introspection says inactive'],
  ],
  'RFC 8693 2.1 (request parameters)': [
    [REFUSALS, 'missing subject_token'], [REFUSALS, 'actor_token without actor_token_type'], [REFUSALS, 'an unknown subject_token_type'],
  ],
  'RFC 8693 2.2.1 (successful response)': [[POSITIVE, 'user token from a trusted issuer → agent token a resource server verifies with jose']],
  'RFC 8693 2.2.2 (error response)': [[REFUSALS, 'two targets'], [REFUSALS, 'scope escalation beyond the subject token']],
  'RFC 8693 3 (token type identifiers)': [[POSITIVE, 'requested_token_type jwt is honoured in issued_token_type'], [REFUSALS, 'a Mandate token declared as a plain jwt']],
  'RFC 8693 4.1 (act claim)': [[POSITIVE, 'a two-hop chain: A hands the task to B, B exchanges for the resource: act {B, act {A}}']],
  'RFC 8693 4.2 (scope claim)': [[POSITIVE, 'user token from a trusted issuer → agent token a resource server verifies with jose']],
  'RFC 8693 4.3 (client_id claim)': [[POSITIVE, 'a two-hop chain: A hands the task to B, B exchanges for the resource: act {B, act {A}}']],
  'RFC 8693 4.4 (may_act claim)': [[POSITIVE, 'may_act naming the agent authorizes it without a delegation']],
  'RFC 9396 (authorization_details)': [
    [POSITIVE, 'carries authorization_details (the task) into the token and introspection'], [REFUSALS, '%s'],
  ],
  'RFC 9449 (DPoP)': [
    [POSITIVE, 'a DPoP proof binds the token (cnf.jkt, token_type DPoP); a bound subject needs a proof from the same key'],
    [REFUSALS, 'a proof from the wrong key for a DPoP-bound subject token'], [REFUSALS, 'a DPoP-bound subject token without any proof'],
    [REFUSALS, 'an agent with require_dpop and no proof'], [REFUSALS, 'a replayed proof, a proof for another URL, and a proof for another method'],
  ],
  'SPEC 7 (audit events for exchanges)': [[POSITIVE, 'records an audit event for each decision, stored and logged, with the fields of SPEC section 7']],
  'Token verification unit suite': [[VERIFY, '']],
};

/** Test titles declared in a file: the first string argument of it(...) / it.each(...)(...). */
function titlesIn(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/\bit(?:\.each\([\s\S]*?\))?\(\s*(['"])((?:\\.|(?!\1).)*)\1/g)].map((m) => m[2]!.replace(/\\'/g, "'"));
}

describe('conformance map: SPEC section 5 rules and RFC 8693 sections → tests', () => {
  it.each(Object.entries(MAP))('%s is proven by tests that exist', (_rule, tests) => {
    expect(tests.length).toBeGreaterThan(0);
    for (const [file, title] of tests) {
      const titles = titlesIn(file);
      expect(titles.length).toBeGreaterThan(0);
      if (title !== '') expect(titles).toContain(title);
    }
  });

  it('has at least 40 negative exchange tests', () => {
    expect(titlesIn(REFUSALS).length).toBeGreaterThanOrEqual(40);
  });
});

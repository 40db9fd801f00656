import type { Policy } from './policy-schema.js';

/** A config mistake that a schema alone cannot see: a reference to something that does not exist. */
export interface ReferenceIssue {
  path: (string | number)[];
  value: unknown;
  expected: string;
}

/**
 * Cross-checks ids between sections: owners are users, audiences are resources (or agents, for
 * sub-agent hand-off), scopes belong to the named audiences, ids are unique across clients and
 * agents (both are OAuth client_ids).
 */
export function checkReferences(policy: Policy): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const users = new Set(policy.users.map((u) => u.id));
  const resources = new Map(policy.resources.map((r) => [r.uri, r]));
  const agents = new Set(policy.agents.map((a) => a.id));
  const seen = new Set<string>();

  policy.resources.forEach((r, i) => {
    if (seen.has(r.uri)) issues.push({ path: ['resources', i, 'uri'], value: r.uri, expected: 'a uri not already used by another resource' });
    seen.add(r.uri);
    r.high_risk_scopes.forEach((s, j) => {
      if (!r.scopes.includes(s)) issues.push({ path: ['resources', i, 'high_risk_scopes', j], value: s, expected: `one of the resource's scopes (${r.scopes.join(', ')})` });
    });
  });

  const clientIds = new Set<string>();
  const uniqueId = (section: 'clients' | 'agents', i: number, id: string): void => {
    if (clientIds.has(id)) issues.push({ path: [section, i, 'id'], value: id, expected: 'a client_id not used by another client or agent' });
    clientIds.add(id);
  };
  const scopesOf = (audiences: string[]): Set<string> =>
    new Set(audiences.flatMap((a) => resources.get(a)?.scopes ?? []));

  policy.clients.forEach((c, i) => {
    uniqueId('clients', i, c.id);
    c.audiences.forEach((a, j) => {
      if (!resources.has(a)) issues.push({ path: ['clients', i, 'audiences', j], value: a, expected: 'the uri of a resource in `resources`' });
    });
    const allowed = scopesOf(c.audiences);
    c.scopes.forEach((s, j) => {
      if (!allowed.has(s)) issues.push({ path: ['clients', i, 'scopes', j], value: s, expected: 'a scope of one of the client\'s audiences' });
    });
    if (c.resource_server !== undefined && !resources.has(c.resource_server)) {
      issues.push({ path: ['clients', i, 'resource_server'], value: c.resource_server, expected: 'the uri of a resource in `resources`' });
    }
  });

  policy.agents.forEach((a, i) => {
    uniqueId('agents', i, a.id);
    if (!users.has(a.owner)) issues.push({ path: ['agents', i, 'owner'], value: a.owner, expected: 'the id of a user in `users`' });
    a.audiences.forEach((aud, j) => {
      if (!resources.has(aud)) issues.push({ path: ['agents', i, 'audiences', j], value: aud, expected: 'the uri of a resource in `resources`' });
    });
    const allowed = scopesOf(a.audiences);
    a.scopes.forEach((s, j) => {
      if (!allowed.has(s)) issues.push({ path: ['agents', i, 'scopes', j], value: s, expected: 'a scope of one of the agent\'s audiences' });
    });
    if (a.default_audience !== undefined && !a.audiences.includes(a.default_audience)) {
      issues.push({ path: ['agents', i, 'default_audience'], value: a.default_audience, expected: 'one of the agent\'s audiences' });
    }
    a.may_delegate_to.forEach((d, j) => {
      if (!agents.has(d) || d === a.id) issues.push({ path: ['agents', i, 'may_delegate_to', j], value: d, expected: 'the id of another agent in `agents`' });
    });
  });

  policy.delegations.forEach((d, i) => {
    if (d.user !== undefined && !users.has(d.user)) issues.push({ path: ['delegations', i, 'user'], value: d.user, expected: 'the id of a user in `users`' });
    if (!agents.has(d.agent)) issues.push({ path: ['delegations', i, 'agent'], value: d.agent, expected: 'the id of an agent in `agents`' });
    d.audiences.forEach((aud, j) => {
      if (!resources.has(aud)) issues.push({ path: ['delegations', i, 'audiences', j], value: aud, expected: 'the uri of a resource in `resources`' });
    });
  });

  return issues;
}

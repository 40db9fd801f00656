import type { AgentConfig, ClientAuth, ClientConfig, Policy, Resource } from '../config/policy-schema.js';

/**
 * Who may ask for tokens and for what. Plain OAuth clients and agents are both OAuth clients;
 * an agent also has an owner, a tier and a lifecycle. Today the registry is the policy file;
 * the admin API (issue 4) adds a store-backed source behind the same interface.
 */
export interface ClientEntry {
  kind: 'client' | 'agent';
  id: string;
  auth: ClientAuth;
  /** OAuth grants besides those every agent has. */
  grantTypes: string[];
  scopes: string[];
  audiences: string[];
  /** For a resource-server client: the resource uri it serves (it may introspect tokens for it). */
  resourceServer?: string;
  /** The full agent record, for agents. */
  agent?: AgentConfig;
}

export interface Registry {
  client(id: string): Promise<ClientEntry | undefined>;
  resource(uri: string): Resource | undefined;
  resources(): readonly Resource[];
}

function fromClient(c: ClientConfig): ClientEntry {
  return {
    kind: 'client',
    id: c.id,
    auth: c.auth,
    grantTypes: c.grant_types,
    scopes: c.scopes,
    audiences: c.audiences,
    ...(c.resource_server !== undefined ? { resourceServer: c.resource_server } : {}),
  };
}

function fromAgent(a: AgentConfig): ClientEntry {
  return { kind: 'agent', id: a.id, auth: a.auth, grantTypes: a.grant_types, scopes: a.scopes, audiences: a.audiences, agent: a };
}

/** The registry as declared in the policy file. */
export function policyRegistry(policy: Policy): Registry {
  const clients = new Map<string, ClientEntry>();
  for (const c of policy.clients) clients.set(c.id, fromClient(c));
  for (const a of policy.agents) clients.set(a.id, fromAgent(a));
  const resources = new Map(policy.resources.map((r) => [r.uri, r]));
  return {
    client: async (id) => clients.get(id),
    resource: (uri) => resources.get(uri),
    resources: () => policy.resources,
  };
}

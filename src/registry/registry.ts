import type { AgentConfig, ClientAuth, ClientConfig, Policy, Resource, UserConfig } from '../config/policy-schema.js';
import { policyDelegations } from './delegations.js';
import type { DelegationGrant } from '../policy/authorization.js';

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

/**
 * Every lookup is async so that a store-backed registry (the admin API) can stand behind the
 * same interface; decisions take what these return as plain typed inputs.
 */
export interface Registry {
  client(id: string): Promise<ClientEntry | undefined>;
  agent(id: string): Promise<AgentConfig | undefined>;
  user(id: string): Promise<UserConfig | undefined>;
  /** The user an external identity ({iss, sub}) belongs to. */
  userBySubject(iss: string, sub: string): Promise<UserConfig | undefined>;
  /** Delegations to this agent (any state; the policy decides which are active). */
  delegationsFor(agentId: string): Promise<DelegationGrant[]>;
  delegation(id: string): Promise<DelegationGrant | undefined>;
  resource(uri: string): Resource | undefined;
  resources(): readonly Resource[];
}

export function fromClient(c: ClientConfig): ClientEntry {
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

export function fromAgent(a: AgentConfig): ClientEntry {
  return { kind: 'agent', id: a.id, auth: a.auth, grantTypes: a.grant_types, scopes: a.scopes, audiences: a.audiences, agent: a };
}

/** The registry as declared in the policy file. */
export function policyRegistry(policy: Policy): Registry {
  const clients = new Map<string, ClientEntry>();
  for (const c of policy.clients) clients.set(c.id, fromClient(c));
  for (const a of policy.agents) clients.set(a.id, fromAgent(a));
  const resources = new Map(policy.resources.map((r) => [r.uri, r]));
  const agents = new Map(policy.agents.map((a) => [a.id, a]));
  const users = new Map(policy.users.map((u) => [u.id, u]));
  const delegations = policyDelegations(policy);
  return {
    client: async (id) => clients.get(id),
    agent: async (id) => agents.get(id),
    user: async (id) => users.get(id),
    userBySubject: async (iss, sub) => policy.users.find((u) => u.subjects.some((s) => s.iss === iss && s.sub === sub)),
    delegationsFor: async (agentId) => delegations.filter((d) => d.agent === agentId),
    delegation: async (id) => delegations.find((d) => d.id === id),
    resource: (uri) => resources.get(uri),
    resources: () => policy.resources,
  };
}

import type { ClientAuth, ClientConfig, Resource } from '../config/policy-schema.js';
import type { DelegationGrant } from '../policy/authorization.js';
import type { AgentRecord, UserRecord } from './records.js';

/**
 * Who may ask for tokens and for what. Plain OAuth clients and agents are both OAuth clients;
 * an agent also has an owner, a tier and a lifecycle. The implementation is `StoreRegistry`
 * (src/registry/store-registry.ts): agents, users and delegations in the store, plain clients and
 * resources from the policy file.
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
  agent?: AgentRecord;
}

/** Every lookup is async (the store); decisions take what these return as plain typed inputs. */
export interface Registry {
  client(id: string): Promise<ClientEntry | undefined>;
  agent(id: string): Promise<AgentRecord | undefined>;
  user(id: string): Promise<UserRecord | undefined>;
  /** The user an external identity ({iss, sub}) belongs to. */
  userBySubject(iss: string, sub: string): Promise<UserRecord | undefined>;
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

export function fromAgent(a: AgentRecord): ClientEntry {
  return { kind: 'agent', id: a.id, auth: a.auth, grantTypes: a.grant_types, scopes: a.scopes, audiences: a.audiences, agent: a };
}

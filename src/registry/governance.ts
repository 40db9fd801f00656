import { randomBytes } from 'node:crypto';

import type { AuditInput, AuditTrail } from '../audit/trail.js';
import type { ClientAuth, Policy } from '../config/policy-schema.js';
import type { Logger } from '../log.js';
import { agentDelegationsKey, lockKey, userAgentsKey } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { TokenRecords } from '../tokens/records.js';
import { policyDelegations } from './delegations.js';
import { conflict, invalidField, notFound } from './errors.js';
import { reviewDue, type AgentRecord, type DelegationFields, type DelegationRecord, type UserRecord } from './records.js';
import { newClientSecret, secretDigest } from './secrets.js';
import type { StoreRegistry } from './store-registry.js';

/**
 * The registry's write side: every change an administrator (or the lifecycle sweep) makes to
 * agents, users and delegations, with its consequences (revoking tokens, orphaning agents) and its
 * audit event. Inputs arrive already shaped by the admin API's schemas; what needs the registry
 * to check (owners exist, scopes fit audiences, ids are free) is checked here, before any write.
 */

/** Fields of an agent an administrator sets (the policy file's names). */
export interface AgentInput {
  id: string;
  name: string;
  owner: string;
  tier: 1 | 2 | 3;
  scopes: string[];
  audiences: string[];
  default_audience?: string;
  max_token_ttl?: number;
  may_delegate_to: string[];
  expires_at?: string;
  require_dpop: boolean;
  grant_types: 'client_credentials'[];
  auth: { method: 'client_secret_basic' | 'client_secret_post' } | { method: 'private_key_jwt'; jwks?: { keys: Record<string, unknown>[] }; jwks_uri?: string };
}

/** A partial change; null clears an optional field. */
export type AgentPatch = Partial<Omit<AgentInput, 'id' | 'default_audience' | 'max_token_ttl' | 'expires_at' | 'auth'>> & {
  default_audience?: string | null;
  max_token_ttl?: number | null;
  expires_at?: string | null;
  auth?: Extract<AgentInput['auth'], { method: 'private_key_jwt' }>;
  status?: 'active' | 'suspended';
};

export interface UserInput {
  id: string;
  name: string;
  email?: string;
  status: 'active' | 'deactivated';
  subjects: { iss: string; sub: string }[];
}

export type UserPatch = Partial<Omit<UserInput, 'id' | 'email'>> & { email?: string | null };

export type DelegationInput = DelegationFields & { id?: string };

export interface GovernanceDeps {
  /** Mandate's issuer: the `iss` of a Mandate user in audit subjects. */
  issuer: string;
  registry: StoreRegistry;
  store: Store;
  records: TokenRecords;
  audit: AuditTrail;
  policy: Policy;
  logger: Logger;
  /** Epoch milliseconds. */
  now?: () => number;
}

/** Who asked for a change, for the audit trail. */
export interface ChangeContext {
  requestId?: string;
  /** Why, when the system (not an administrator) makes the change: `expired`, `orphaned`, `review_overdue`. */
  reason?: string;
}

export interface SweepReport {
  retired: string[];
  suspended: string[];
}

export class Governance {
  readonly #issuer: string;
  readonly #registry: StoreRegistry;
  readonly #store: Store;
  readonly #records: TokenRecords;
  readonly #audit: AuditTrail;
  readonly #policy: Policy;
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor(deps: GovernanceDeps) {
    this.#issuer = deps.issuer;
    this.#registry = deps.registry;
    this.#store = deps.store;
    this.#records = deps.records;
    this.#audit = deps.audit;
    this.#policy = deps.policy;
    this.#logger = deps.logger;
    this.#now = deps.now ?? Date.now;
  }

  get registry(): StoreRegistry {
    return this.#registry;
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }

  // ——— agents ———

  /** Registers an agent; a generated secret (when the method uses one) is returned this once. */
  async createAgent(input: AgentInput, context: ChangeContext = {}): Promise<{ agent: AgentRecord; clientSecret?: string }> {
    await this.#checkAgent(input);
    if (this.#registry.isPlainClient(input.id)) throw conflict(`id ${input.id} is taken by an OAuth client of the policy file`, 'id');
    const secret = input.auth.method === 'private_key_jwt' ? undefined : newClientSecret();
    const auth: ClientAuth = secret === undefined ? (input.auth as ClientAuth) : { method: input.auth.method as 'client_secret_basic', secret_digest: secretDigest(secret) };
    const now = this.#iso();
    const agent: AgentRecord = { ...input, auth, status: 'active', created_at: now, updated_at: now, source: 'admin' };
    if (!(await this.#registry.create('agents', agent.id, agent, [userAgentsKey(agent.owner)]))) {
      const existing = await this.#registry.agent(agent.id);
      throw conflict(existing?.status === 'retired'
        ? `agent id ${agent.id} belonged to a retired agent and can never be reused`
        : `an agent with id ${agent.id} already exists`, 'id');
    }
    await this.#record({ type: 'agent.created', client_id: agent.id }, context);
    return { agent, ...(secret !== undefined ? { clientSecret: secret } : {}) };
  }

  async agent(id: string): Promise<AgentRecord> {
    const agent = await this.#registry.agent(id);
    if (!agent) throw notFound('agent', id);
    return agent;
  }

  /** Changes fields and/or suspends or resumes. A retired agent cannot change. */
  async updateAgent(id: string, patch: AgentPatch, context: ChangeContext = {}): Promise<AgentRecord> {
    const current = await this.agent(id);
    if (current.status === 'retired') throw conflict(`agent ${id} is retired and cannot change`);
    const { status, ...fields } = patch;
    if (Object.keys(fields).length === 0 && (status === undefined || status === current.status)) return current;
    const merged = withPatch(current, fields);
    if (Object.keys(fields).length > 0) await this.#checkAgent(merged, current);
    if (status === 'active' && current.status !== 'active') {
      const owner = await this.#registry.user(merged.owner);
      if (owner?.status !== 'active') throw conflict(`agent ${id} cannot resume: its owner ${merged.owner} is not an active user`, 'status');
    }
    if (fields.owner !== undefined && fields.owner !== current.owner) await this.#registry.addToIndex(userAgentsKey(fields.owner), id);
    const result = await this.#registry.update<AgentRecord>('agents', id, (agent) => {
      if (agent.status === 'retired') throw conflict(`agent ${id} is retired and cannot change`);
      const next = withPatch(agent, fields);
      if (status !== undefined && status !== agent.status) {
        next.status = status;
        if (status === 'suspended') next.status_reason = context.reason ?? 'admin';
        else delete next.status_reason;
      }
      next.updated_at = this.#iso();
      return next;
    });
    const { before, after } = result ?? throwNotFound('agent', id);
    if (Object.keys(fields).length > 0) await this.#record({ type: 'agent.changed', client_id: id, reason: Object.keys(fields).sort().join(' ') }, context);
    if (before.status !== after.status) {
      await this.#record({ type: after.status === 'suspended' ? 'agent.suspended' : 'agent.resumed', client_id: id, reason: after.status_reason ?? context.reason ?? 'admin' }, context);
    }
    return after;
  }

  /**
   * Retires an agent for good: its credentials stop working (the record keeps no secret digest and
   * an empty key set), every token issued to it is revoked with its subtree, and the id stays taken.
   */
  async retireAgent(id: string, context: ChangeContext = {}): Promise<AgentRecord> {
    const result = await this.#registry.update<AgentRecord>('agents', id, (agent) => {
      if (agent.status === 'retired') return agent;
      const now = this.#iso();
      return { ...agent, status: 'retired', status_reason: context.reason ?? 'admin', retired_at: now, updated_at: now, auth: { method: 'private_key_jwt', jwks: { keys: [] } } };
    });
    const { before, after } = result ?? throwNotFound('agent', id);
    if (before.status !== 'retired') {
      await this.#record({ type: 'agent.retired', client_id: id, reason: after.status_reason ?? 'admin' }, context);
    }
    // Also on a repeated retire: finishes a revocation an outage may have interrupted.
    const revoked = await this.#records.revokeByAgent(id);
    if (revoked.length > 0) await this.#record({ type: 'token.revoked', client_id: id, reason: `agent retired: ${revoked.length} token(s)` }, context);
    return after;
  }

  /** Replaces the agent's client secret with a new generated one, returned this once. */
  async rotateSecret(id: string, method: 'client_secret_basic' | 'client_secret_post' | undefined, context: ChangeContext = {}): Promise<{ agent: AgentRecord; clientSecret: string }> {
    const current = await this.agent(id);
    if (current.status === 'retired') throw conflict(`agent ${id} is retired; its credentials cannot be renewed`);
    const chosen = method ?? (current.auth.method === 'private_key_jwt' ? undefined : current.auth.method);
    if (chosen === undefined) {
      throw invalidField('method', `agent ${id} authenticates with private_key_jwt; send "client_secret_basic" or "client_secret_post" to switch it to a generated secret`);
    }
    const secret = newClientSecret();
    const result = await this.#registry.update<AgentRecord>('agents', id, (agent) => {
      if (agent.status === 'retired') throw conflict(`agent ${id} is retired; its credentials cannot be renewed`);
      return { ...agent, auth: { method: chosen, secret_digest: secretDigest(secret) }, updated_at: this.#iso() };
    });
    const { after } = result ?? throwNotFound('agent', id);
    await this.#record({ type: 'agent.changed', client_id: id, reason: 'secret rotated' }, context);
    return { agent: after, clientSecret: secret };
  }

  /** Records a review; an agent suspended only because its review was overdue resumes. */
  async reviewAgent(id: string, reviewer: string | undefined, context: ChangeContext = {}): Promise<AgentRecord> {
    if (reviewer !== undefined && !(await this.#registry.user(reviewer))) throw invalidField('reviewer', `no user with id ${reviewer}`);
    const current = await this.agent(id);
    // A review lifts only its own suspension, and never for an agent whose owner is gone.
    const ownerActive = (await this.#registry.user(current.owner))?.status === 'active';
    const result = await this.#registry.update<AgentRecord>('agents', id, (agent) => {
      if (agent.status === 'retired') throw conflict(`agent ${id} is retired; there is nothing to review`);
      const now = this.#iso();
      const next: AgentRecord = { ...agent, last_reviewed_at: now, updated_at: now, ...(reviewer !== undefined ? { last_reviewed_by: reviewer } : {}) };
      if (agent.status === 'suspended' && agent.status_reason === 'review_overdue' && ownerActive && agent.owner === current.owner) {
        next.status = 'active';
        delete next.status_reason;
      }
      return next;
    });
    const { before, after } = result ?? throwNotFound('agent', id);
    await this.#record({ type: 'agent.reviewed', client_id: id, ...(reviewer !== undefined ? { approver: reviewer } : {}) }, context);
    if (before.status !== after.status) await this.#record({ type: 'agent.resumed', client_id: id, reason: 'reviewed' }, context);
    return after;
  }

  reviewDueOf(agent: AgentRecord): string {
    return reviewDue(agent, this.#policy.tiers[agent.tier].review_interval_days);
  }

  // ——— users ———

  async createUser(input: UserInput, context: ChangeContext = {}): Promise<UserRecord> {
    const now = this.#iso();
    const user: UserRecord = { ...input, created_at: now, updated_at: now, source: 'admin' };
    const claimed = await this.#claimSubjects(user.id, user.subjects);
    if (!(await this.#registry.create('users', user.id, user))) {
      await this.#releaseSubjects(user.id, claimed);
      throw conflict(`a user with id ${user.id} already exists`, 'id');
    }
    await this.#record({ type: 'user.created', subject: { iss: this.#issuer, sub: user.id } }, context);
    return user;
  }

  async user(id: string): Promise<UserRecord> {
    const user = await this.#registry.user(id);
    if (!user) throw notFound('user', id);
    return user;
  }

  /** Changes a user; deactivating one suspends every active agent it owns (orphaned). */
  async updateUser(id: string, patch: UserPatch, context: ChangeContext = {}): Promise<UserRecord> {
    await this.user(id);
    const claimed = await this.#claimSubjects(id, patch.subjects ?? []);
    let result;
    try {
      result = await this.#registry.update<UserRecord>('users', id, (user) => {
        const next = { ...user, ...definedFields(patch), updated_at: this.#iso() } as UserRecord;
        if (patch.email === null) delete next.email;
        return next;
      });
    } catch (err) {
      await this.#releaseSubjects(id, claimed);
      throw err;
    }
    const { before, after } = result ?? throwNotFound('user', id);
    const removed = before.subjects.filter((s) => !after.subjects.some((a) => a.iss === s.iss && a.sub === s.sub));
    await this.#releaseSubjects(id, removed);
    const subject = { iss: this.#issuer, sub: id };
    const changed = Object.keys(patch).filter((k) => k !== 'status');
    if (changed.length > 0) await this.#record({ type: 'user.changed', subject, reason: changed.sort().join(' ') }, context);
    if (before.status !== after.status) {
      await this.#record({ type: after.status === 'deactivated' ? 'user.deactivated' : 'user.reactivated', subject }, context);
    }
    if (after.status === 'deactivated') await this.#orphanAgentsOf(id, context);
    return after;
  }

  async #orphanAgentsOf(userId: string, context: ChangeContext): Promise<string[]> {
    const ids = await this.#registry.indexMembers(userAgentsKey(userId));
    const agents = await this.#registry.readMany<AgentRecord>('agents', ids);
    const suspended: string[] = [];
    for (const agent of agents) {
      if (agent.owner !== userId || agent.status !== 'active') continue;
      await this.updateAgent(agent.id, { status: 'suspended' }, { ...context, reason: 'orphaned' });
      suspended.push(agent.id);
    }
    return suspended;
  }

  /**
   * Claims each identity of `subjects` for the user, all or none: on a taken one, those this call
   * claimed are released (never ones the user held before) and the 409 names its place in the list.
   */
  async #claimSubjects(userId: string, subjects: readonly { iss: string; sub: string }[]): Promise<{ iss: string; sub: string }[]> {
    const claimed: { iss: string; sub: string }[] = [];
    for (const [i, subject] of subjects.entries()) {
      const outcome = await this.#registry.claimSubject(subject.iss, subject.sub, userId);
      if (outcome === 'taken') {
        await this.#releaseSubjects(userId, claimed);
        throw conflict(`subjects[${i}]: ${subject.iss} ${subject.sub} already belongs to another user`, `subjects[${i}]`);
      }
      if (outcome === 'claimed') claimed.push(subject);
    }
    return claimed;
  }

  async #releaseSubjects(userId: string, subjects: readonly { iss: string; sub: string }[]): Promise<void> {
    for (const s of subjects) await this.#registry.releaseSubject(s.iss, s.sub, userId);
  }

  // ——— delegations ———

  /** `origin.approval_id`: the consent approval that created it (SPEC section 6), for the trail. */
  async createDelegation(input: DelegationInput, context: ChangeContext = {}, origin: { approval_id?: string } = {}): Promise<DelegationRecord> {
    if ((input.user === undefined) === (input.subject === undefined)) throw invalidField('user', 'give exactly one of user or subject');
    if (input.user !== undefined && !(await this.#registry.user(input.user))) throw invalidField('user', `no user with id ${input.user}`);
    const agent = await this.#registry.agent(input.agent);
    if (!agent) throw invalidField('agent', `no agent with id ${input.agent}`);
    if (agent.status === 'retired') throw invalidField('agent', `agent ${input.agent} is retired`);
    this.#checkAudiences('audiences', input.audiences, input.scopes);
    if (input.expires_at !== undefined && Date.parse(input.expires_at) <= this.#now()) throw invalidField('expires_at', 'must be in the future');
    const id = input.id ?? `dlg_${randomBytes(12).toString('base64url')}`;
    const now = this.#iso();
    const delegation: DelegationRecord = {
      ...input, id, status: 'active', created_at: now, updated_at: now, source: origin.approval_id !== undefined ? 'approval' : 'admin',
      ...(origin.approval_id !== undefined ? { approval_id: origin.approval_id } : {}),
    };
    if (!(await this.#registry.create('delegations', id, delegation, [agentDelegationsKey(input.agent)]))) {
      throw conflict(`a delegation with id ${id} exists or existed`, 'id');
    }
    await this.#record({
      type: 'delegation.created', delegation_id: id, client_id: input.agent, ...this.#subjectOf(delegation), scope: input.scopes.join(' '),
      ...(origin.approval_id !== undefined ? { approval_id: origin.approval_id, approver: input.user! } : {}), ...(context.reason ? { reason: context.reason } : {}),
    }, context);
    return delegation;
  }

  async delegation(id: string): Promise<DelegationRecord> {
    const delegation = await this.#registry.read<DelegationRecord>('delegations', id);
    if (!delegation) throw notFound('delegation', id);
    return delegation;
  }

  /** Revokes a delegation and every token issued under it. Idempotent. */
  async revokeDelegation(id: string, context: ChangeContext = {}): Promise<DelegationRecord> {
    const result = await this.#registry.update<DelegationRecord>('delegations', id, (d) => {
      if (d.status === 'revoked') return d;
      const now = this.#iso();
      return { ...d, status: 'revoked', revoked_at: now, updated_at: now };
    });
    const { before, after } = result ?? throwNotFound('delegation', id);
    await this.#registry.removeFromIndex(agentDelegationsKey(after.agent), id);
    if (before.status !== 'revoked') {
      await this.#record({ type: 'delegation.revoked', delegation_id: id, client_id: after.agent, ...this.#subjectOf(after) }, context);
    }
    const revoked = await this.#records.revokeByDelegation(id);
    if (revoked.length > 0) await this.#record({ type: 'token.revoked', delegation_id: id, reason: `delegation revoked: ${revoked.length} token(s)` }, context);
    return after;
  }

  #subjectOf(d: DelegationRecord | DelegationInput): { subject?: { iss: string; sub: string } } {
    if (d.subject) return { subject: d.subject };
    return d.user !== undefined ? { subject: { iss: this.#issuer, sub: d.user } } : {};
  }

  // ——— the policy file ———

  /**
   * Loads the policy file's users, agents and delegations into the registry. Idempotent and safe
   * for several instances at once: a record is created only when its id is free, so the registry
   * wins over the file once a record exists (an administrator's suspension or retirement survives
   * a restart). A file entry that differs from its record is logged.
   */
  async loadPolicy(): Promise<{ created: number; differing: string[] }> {
    const policy = this.#policy;
    const now = this.#iso();
    const meta = { created_at: now, updated_at: now, source: 'policy' as const };
    let created = 0;
    const differing: string[] = [];
    const note = async (kind: 'users' | 'agents' | 'delegations', id: string, wrote: boolean, declared: object): Promise<void> => {
      if (wrote) {
        created += 1;
        return;
      }
      const stored = await this.#registry.read<Record<string, unknown>>(kind, id);
      const differs = stored && Object.entries(declared).some(([k, v]) => JSON.stringify(stored[k]) !== JSON.stringify(v));
      if (differs) differing.push(`${kind}/${id}`);
    };
    for (const user of policy.users) {
      for (const s of user.subjects) await this.#registry.claimSubject(s.iss, s.sub, user.id);
      await note('users', user.id, await this.#registry.create('users', user.id, { ...user, ...meta }), user);
    }
    for (const agent of policy.agents) {
      await note('agents', agent.id, await this.#registry.create('agents', agent.id, { ...agent, ...meta }, [userAgentsKey(agent.owner)]), agent);
    }
    for (const delegation of policyDelegations(policy)) {
      const record: DelegationRecord = { ...delegation, status: 'active', ...meta };
      await note('delegations', delegation.id, await this.#registry.create('delegations', delegation.id, record, [agentDelegationsKey(delegation.agent)]), delegation);
    }
    if (differing.length > 0) {
      this.#logger.warn({ records: differing }, 'policy file entries differ from the registry; the registry wins (change them through /admin)');
    }
    return { created, differing };
  }

  // ——— the lifecycle sweep ———

  /**
   * Applies the lifecycle rules to every agent: past `expires_at` → retired; owner not active →
   * suspended (orphaned); overdue for review with `governance.suspend_overdue` → suspended. The
   * same rules refuse such agents at use time; the sweep makes the state explicit and audited.
   */
  async sweep(context: ChangeContext = {}): Promise<SweepReport> {
    const report: SweepReport = { retired: [], suspended: [] };
    const ids = await this.#registry.ids('agents');
    const now = this.#now();
    for (let i = 0; i < ids.length; i += 200) {
      const agents = await this.#registry.readMany<AgentRecord>('agents', ids.slice(i, i + 200));
      for (const agent of agents) {
        if (agent.status === 'retired') continue;
        if (agent.expires_at !== undefined && !(Date.parse(agent.expires_at) > now)) {
          await this.retireAgent(agent.id, { ...context, reason: 'expired' });
          report.retired.push(agent.id);
          continue;
        }
        if (agent.status !== 'active') continue;
        const owner = await this.#registry.user(agent.owner);
        const reason = owner?.status !== 'active'
          ? 'orphaned'
          : this.#policy.governance.suspend_overdue && Date.parse(this.reviewDueOf(agent)) <= now ? 'review_overdue' : undefined;
        if (reason) {
          await this.updateAgent(agent.id, { status: 'suspended' }, { ...context, reason });
          report.suspended.push(agent.id);
        }
      }
    }
    return report;
  }

  /**
   * Runs the sweep every `governance.sweep_interval_seconds` on whichever instance takes the lease
   * first, followed by `also` (other periodic jobs, e.g. recording expired approvals). Returns a
   * stop function.
   */
  startSweeper(also: (() => Promise<unknown>)[] = []): () => void {
    const interval = this.#policy.governance.sweep_interval_seconds;
    const tick = async (): Promise<void> => {
      try {
        if (!(await this.#store.set(lockKey('sweep'), String(process.pid), { ttlSeconds: Math.max(1, interval - 1), onlyIfAbsent: true }))) return;
        const report = await this.sweep();
        if (report.retired.length + report.suspended.length > 0) this.#logger.info(report, 'lifecycle sweep');
        for (const job of also) await job();
      } catch (err) {
        this.#logger.warn({ err }, 'lifecycle sweep failed; retrying at the next interval');
      }
    };
    const timer = setInterval(() => void tick(), interval * 1000);
    timer.unref();
    void tick();
    return () => clearInterval(timer);
  }

  // ——— checks and audit ———

  async #checkAgent(agent: AgentInput | AgentRecord, current?: AgentRecord): Promise<void> {
    const owner = await this.#registry.user(agent.owner);
    if (!owner) throw invalidField('owner', `no user with id ${agent.owner}`);
    if (owner.status !== 'active' && agent.owner !== current?.owner) throw invalidField('owner', `user ${agent.owner} is deactivated`);
    this.#checkAudiences('audiences', agent.audiences, agent.scopes);
    if (agent.default_audience !== undefined && !agent.audiences.includes(agent.default_audience)) {
      throw invalidField('default_audience', `${agent.default_audience} is not one of the agent's audiences`);
    }
    for (const [i, other] of agent.may_delegate_to.entries()) {
      if (other === agent.id) throw invalidField(`may_delegate_to[${i}]`, 'an agent cannot delegate to itself');
      const target = await this.#registry.agent(other);
      if (!target || target.status === 'retired') throw invalidField(`may_delegate_to[${i}]`, `no active agent with id ${other}`);
    }
    if (agent.expires_at !== undefined && agent.expires_at !== current?.expires_at && Date.parse(agent.expires_at) <= this.#now()) {
      throw invalidField('expires_at', 'must be in the future');
    }
  }

  /** Audiences must be registered resources and every scope one of theirs. */
  #checkAudiences(field: string, audiences: readonly string[], scopes: readonly string[]): void {
    const allowed = new Set<string>();
    for (const [i, audience] of audiences.entries()) {
      const resource = this.#registry.resource(audience);
      if (!resource) throw invalidField(`${field}[${i}]`, `${audience} is not a registered resource`);
      for (const s of resource.scopes) allowed.add(s);
    }
    for (const [i, scope] of scopes.entries()) {
      if (!allowed.has(scope)) throw invalidField(`scopes[${i}]`, `${scope} is not a scope of the given audiences (${[...allowed].join(', ') || 'none'})`);
    }
  }

  /**
   * Stores and logs one audit event. The change it describes is already made; if the store
   * fails now, the caller sees the store error (503) and the log says which event was not stored.
   */
  async #record(input: Omit<AuditInput, 'outcome'>, context: ChangeContext): Promise<void> {
    await this.#audit.record({ outcome: 'success', ...input, ...(context.requestId ? { request_id: context.requestId } : {}) });
  }
}

function throwNotFound(kind: string, id: string): never {
  throw notFound(kind, id);
}

/** Only the fields present in a patch (undefined means "leave as is"). */
function definedFields<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** An agent with a patch applied: null clears an optional field. */
function withPatch(agent: AgentRecord, fields: Omit<AgentPatch, 'status'>): AgentRecord {
  const next = { ...agent, ...definedFields(fields) } as AgentRecord;
  for (const key of ['default_audience', 'max_token_ttl', 'expires_at'] as const) {
    if (fields[key] === null) delete next[key];
  }
  return next;
}

import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';

import type { Policy, Resource } from '../config/policy-schema.js';
import type { DelegationGrant } from '../policy/authorization.js';
import {
  agentDelegationsKey, registryAgentKey, registryDelegationKey, registryIndexKey, registryUserKey, subjectUserKey,
} from '../store/keys.js';
import type { Store } from '../store/store.js';
import { conflict } from './errors.js';
import { toGrant, type AgentRecord, type DelegationRecord, type UserRecord } from './records.js';
import { fromAgent, fromClient, type ClientEntry, type Registry } from './registry.js';

export type RecordKind = 'agents' | 'users' | 'delegations';

const RECORD_KEY: Record<RecordKind, (id: string) => string> = {
  agents: registryAgentKey,
  users: registryUserKey,
  delegations: registryDelegationKey,
};

/** Read-modify-write attempts before giving up on a record other writers keep changing. */
const MAX_CAS_ATTEMPTS = 40;
/** Records fetched per round trip when listing. */
const PAGE_CHUNK = 200;

/**
 * Registry reads made while serving one OAuth request, by key. Client authentication, the grant
 * and introspection each ask for the same agent and owner; within one request they see one
 * snapshot and the store is asked once. Admin requests run outside it and always read afresh.
 */
const requestReads = new AsyncLocalStorage<Map<string, Promise<string | null>>>();

/** Runs `fn` (one OAuth request) with its own read memo. */
export function withRequestReads<T>(fn: () => Promise<T>): Promise<T> {
  return requestReads.run(new Map(), fn);
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** The digest that keys an external identity → user mapping. */
export function subjectDigest(iss: string, sub: string): string {
  return createHash('sha256').update(`${iss}\n${sub}`).digest('base64url');
}

/**
 * The registry kept in the store: agents, users and delegations (created by the admin API or
 * loaded from the policy file), plus the policy file's plain clients and resources, which only
 * the file defines. Every read goes to the store, so every instance sees a change at once.
 *
 * Writes never leave a half-made record: index entries are written before the record they point
 * to (a reader skips an id without a record), records are created with set-if-absent, and every
 * change is a compare-and-set on the whole record.
 */
export class StoreRegistry implements Registry {
  readonly #store: Store;
  readonly #clients: Map<string, ClientEntry>;
  readonly #resources: Map<string, Resource>;
  readonly #policy: Policy;

  constructor(store: Store, policy: Policy) {
    this.#store = store;
    this.#policy = policy;
    this.#clients = new Map(policy.clients.map((c) => [c.id, fromClient(c)]));
    this.#resources = new Map(policy.resources.map((r) => [r.uri, r]));
  }

  async client(id: string): Promise<ClientEntry | undefined> {
    const plain = this.#clients.get(id);
    if (plain) return plain;
    const agent = await this.agent(id);
    return agent && fromAgent(agent);
  }

  /** True when `id` is a plain OAuth client of the policy file (agents may not take its id). */
  isPlainClient(id: string): boolean {
    return this.#clients.has(id);
  }

  agent(id: string): Promise<AgentRecord | undefined> {
    return this.read<AgentRecord>('agents', id);
  }

  user(id: string): Promise<UserRecord | undefined> {
    return this.read<UserRecord>('users', id);
  }

  async userBySubject(iss: string, sub: string): Promise<UserRecord | undefined> {
    const userId = await this.#get(subjectUserKey(subjectDigest(iss, sub)));
    const user = userId === null ? undefined : await this.user(userId);
    // A mapping left behind by a change the user record no longer lists does not count.
    return user?.subjects.some((s) => s.iss === iss && s.sub === sub) ? user : undefined;
  }

  async delegationsFor(agentId: string): Promise<DelegationGrant[]> {
    const ids = await this.#store.setMembers(agentDelegationsKey(agentId));
    const records = await this.readMany<DelegationRecord>('delegations', ids);
    return records.filter((d) => d.status === 'active' && d.agent === agentId).map(toGrant);
  }

  async delegation(id: string): Promise<DelegationGrant | undefined> {
    const record = await this.read<DelegationRecord>('delegations', id);
    return record?.status === 'active' ? toGrant(record) : undefined;
  }

  resource(uri: string): Resource | undefined {
    return this.#resources.get(uri);
  }

  resources(): readonly Resource[] {
    return this.#policy.resources;
  }

  // ——— raw record access for the governance operations ———

  async read<T>(kind: RecordKind, id: string): Promise<T | undefined> {
    const raw = await this.#get(RECORD_KEY[kind](id));
    return raw === null ? undefined : (JSON.parse(raw) as T);
  }

  #get(key: string): Promise<string | null> {
    const memo = requestReads.getStore();
    if (!memo) return this.#store.get(key);
    let pending = memo.get(key);
    if (!pending) {
      pending = this.#store.get(key);
      memo.set(key, pending);
      // A failed read is not remembered: a retry within the request asks the store again.
      pending.catch(() => memo.delete(key));
    }
    return pending;
  }

  async readMany<T>(kind: RecordKind, ids: readonly string[]): Promise<T[]> {
    const raws = await this.#store.getMany(ids.map((id) => RECORD_KEY[kind](id)));
    return raws.flatMap((raw) => (raw === null ? [] : [JSON.parse(raw) as T]));
  }

  /**
   * Creates a record under `id` unless one exists (a retired or revoked one included): the index
   * entries first, then the record with set-if-absent. Returns false when the id is taken.
   */
  async create(kind: RecordKind, id: string, record: object, indexes: readonly string[] = []): Promise<boolean> {
    await this.#store.writeBatch([registryIndexKey(kind), ...indexes].map((key) => ({ op: 'addToSet', key, member: id, ttlSeconds: null })));
    return this.#store.set(RECORD_KEY[kind](id), JSON.stringify(record), { ttlSeconds: null, onlyIfAbsent: true });
  }

  /**
   * Applies `change` to the current record with compare-and-set, retrying when another writer got
   * there first. `change` may throw to refuse (nothing is written). Undefined when there is no record.
   */
  async update<T>(kind: RecordKind, id: string, change: (current: T) => T): Promise<{ before: T; after: T } | undefined> {
    const key = RECORD_KEY[kind](id);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
      const raw = await this.#store.get(key);
      if (raw === null) return undefined;
      const before = JSON.parse(raw) as T;
      const after = change(structuredClone(before));
      const next = JSON.stringify(after);
      if (next === raw || (await this.#store.compareAndSet(key, raw, next))) return { before, after };
      // Lost the race: back off a little, with jitter, so contending writers spread out.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 * (attempt + 1))));
    }
    throw conflict(`${kind} record ${id} is being changed by others; retry`);
  }

  /** Every id of a kind, sorted. */
  async ids(kind: RecordKind): Promise<string[]> {
    return (await this.#store.setMembers(registryIndexKey(kind))).sort();
  }

  /**
   * One page of records of a kind in id order, after `cursor` (the last id of the previous page),
   * keeping those `filter` accepts.
   */
  async page<T extends { id: string }>(kind: RecordKind, options: { cursor?: string | undefined; limit: number; filter?: (record: T) => boolean }): Promise<Page<T>> {
    const ids = await this.ids(kind);
    let next = options.cursor === undefined ? 0 : ids.findIndex((id) => id > options.cursor!);
    if (next < 0) next = ids.length;
    const items: T[] = [];
    while (next < ids.length && items.length < options.limit) {
      const chunk = ids.slice(next, next + PAGE_CHUNK);
      const raws = await this.#store.getMany(chunk.map((id) => RECORD_KEY[kind](id)));
      for (const raw of raws) {
        next += 1;
        if (raw === null) continue;
        const record = JSON.parse(raw) as T;
        if (!options.filter || options.filter(record)) items.push(record);
        if (items.length === options.limit) break;
      }
    }
    return { items, next_cursor: next < ids.length ? ids[next - 1]! : null };
  }

  /**
   * Claims an external identity for a user: `claimed` when this call took it, `held` when the
   * user already had it, `taken` when another user holds it.
   */
  async claimSubject(iss: string, sub: string, userId: string): Promise<'claimed' | 'held' | 'taken'> {
    const key = subjectUserKey(subjectDigest(iss, sub));
    if (await this.#store.set(key, userId, { ttlSeconds: null, onlyIfAbsent: true })) return 'claimed';
    const holder = await this.#store.get(key);
    if (holder === userId) return 'held';
    // A mapping whose user no longer lists the identity is stale and may be taken over.
    const holderRecord = holder === null ? undefined : await this.user(holder);
    if (holderRecord?.subjects.some((s) => s.iss === iss && s.sub === sub)) return 'taken';
    const took = holder === null
      ? await this.#store.set(key, userId, { ttlSeconds: null, onlyIfAbsent: true })
      : await this.#store.compareAndSet(key, holder, userId);
    return took ? 'claimed' : 'taken';
  }

  /** Releases an identity this user held (no-op when someone else holds it). */
  async releaseSubject(iss: string, sub: string, userId: string): Promise<void> {
    const key = subjectUserKey(subjectDigest(iss, sub));
    if ((await this.#store.get(key)) === userId) await this.#store.delete(key);
  }

  async addToIndex(key: string, id: string): Promise<void> {
    await this.#store.addToSet(key, id, null);
  }

  async removeFromIndex(key: string, id: string): Promise<void> {
    await this.#store.removeFromSet(key, id);
  }

  async indexMembers(key: string): Promise<string[]> {
    return this.#store.setMembers(key);
  }
}

import { createHash } from 'node:crypto';

import type { AuditTrail } from '../audit/trail.js';
import type { Logger } from '../log.js';
import { shadowAgentKey, shadowAuditedKey, shadowIndexKey } from '../store/keys.js';
import type { Store } from '../store/store.js';

/**
 * Shadow agents: something claims a client id that Mandate does not know, or one that is
 * suspended or retired, or a token's `act` chain names an agent that is not registered. Each
 * claimed id gets one record (count, first and last seen, endpoints, source addresses), a metric
 * tick and an audit event. Everything about it is bounded, because the caller picks the id:
 * at most MAX_TRACKED ids, MAX_LISTED endpoints and addresses each, ids cut at MAX_ID_LENGTH,
 * and at most one audit event per id and reason per AUDIT_EVERY_SECONDS.
 */
export interface Sighting {
  clientId: string;
  /** unknown_agent, agent_suspended, agent_retired, agent_expired, owner_inactive, review_overdue, unregistered_actor */
  reason: string;
  endpoint: string;
  address?: string;
  requestId?: string;
}

export interface ShadowRecord {
  client_id: string;
  count: number;
  first_seen: string;
  last_seen: string;
  endpoints: string[];
  addresses: string[];
  reasons: string[];
}

export const MAX_TRACKED = 10_000;
const MAX_LISTED = 10;
const MAX_ID_LENGTH = 256;
const AUDIT_EVERY_SECONDS = 60;
const MAX_CAS_ATTEMPTS = 5;

/** Reasons about ids nobody registered; the others are about a known agent that may not be used. */
const UNKNOWN_REASONS = new Set(['unknown_agent', 'unregistered_actor']);

export interface ShadowAgentsDeps {
  store: Store;
  audit: AuditTrail;
  logger: Logger;
  onSighting?: (reason: string) => void;
  now?: () => number;
  maxTracked?: number;
}

export class ShadowAgents {
  readonly #deps: ShadowAgentsDeps;

  constructor(deps: ShadowAgentsDeps) {
    this.#deps = deps;
  }

  /** Records a sighting. Never throws: a sighting must not change the answer the caller gets. */
  async record(sighting: Sighting): Promise<void> {
    this.#deps.onSighting?.(sighting.reason);
    try {
      await this.#record({ ...sighting, clientId: sighting.clientId.slice(0, MAX_ID_LENGTH) });
    } catch (err) {
      this.#deps.logger.warn({ err, reason: sighting.reason }, 'shadow-agent sighting not stored');
    }
  }

  async #record(sighting: Sighting): Promise<void> {
    const { store } = this.#deps;
    const digest = createHash('sha256').update(sighting.clientId).digest('base64url');
    const key = shadowAgentKey(digest);
    const now = new Date((this.#deps.now ?? Date.now)()).toISOString();
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt += 1) {
      const raw = await store.get(key);
      if (raw === null) {
        if (await store.setSize(shadowIndexKey()) >= (this.#deps.maxTracked ?? MAX_TRACKED)) {
          this.#deps.logger.warn({ reason: sighting.reason }, 'shadow-agent list is full; sighting counted in metrics only');
          return;
        }
        const record: ShadowRecord = {
          client_id: sighting.clientId, count: 1, first_seen: now, last_seen: now,
          endpoints: [sighting.endpoint], addresses: sighting.address ? [sighting.address] : [], reasons: [sighting.reason],
        };
        await store.addToSet(shadowIndexKey(), digest, null);
        if (await store.set(key, JSON.stringify(record), { ttlSeconds: null, onlyIfAbsent: true })) break;
        continue;
      }
      const record = JSON.parse(raw) as ShadowRecord;
      const next: ShadowRecord = {
        ...record,
        count: record.count + 1,
        last_seen: now,
        endpoints: remember(record.endpoints, sighting.endpoint),
        addresses: sighting.address ? remember(record.addresses, sighting.address) : record.addresses,
        reasons: remember(record.reasons, sighting.reason),
      };
      if (await store.compareAndSet(key, raw, JSON.stringify(next))) break;
    }
    if (await store.set(`${shadowAuditedKey(digest)}:${sighting.reason}`, '1', { ttlSeconds: AUDIT_EVERY_SECONDS, onlyIfAbsent: true })) {
      await this.#deps.audit.record({
        type: UNKNOWN_REASONS.has(sighting.reason) ? 'shadow_agent.sighted' : 'agent.blocked',
        outcome: 'failure',
        reason: sighting.reason,
        client_id: sighting.clientId,
        ...(sighting.requestId ? { request_id: sighting.requestId } : {}),
      });
    }
  }

  /** Every sighting record, most recent first, paged by position (a cursor is an offset). */
  async list(options: { cursor?: string | undefined; limit: number }): Promise<{ items: ShadowRecord[]; next_cursor: string | null }> {
    const { store } = this.#deps;
    const digests = await store.setMembers(shadowIndexKey());
    const raws = await store.getMany(digests.map(shadowAgentKey));
    const records = raws.flatMap((raw) => (raw === null ? [] : [JSON.parse(raw) as ShadowRecord]))
      .sort((a, b) => b.last_seen.localeCompare(a.last_seen) || a.client_id.localeCompare(b.client_id));
    const start = options.cursor === undefined ? 0 : Number(options.cursor);
    const end = start + options.limit;
    return { items: records.slice(start, end), next_cursor: end < records.length ? String(end) : null };
  }
}

/** A bounded list of distinct values, the newest last. */
function remember(values: readonly string[], value: string): string[] {
  const rest = values.filter((v) => v !== value);
  return [...rest, value].slice(-MAX_LISTED);
}

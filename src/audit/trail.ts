import { randomBytes, randomUUID } from 'node:crypto';

import type { Logger } from '../log.js';
import { auditAnchorKey, auditChainKey, auditCheckpointsKey, auditTokenKey, auditWritersKey } from '../store/keys.js';
import type { LogEntry, Store, WriteOp } from '../store/store.js';
import type { AuditKeys } from './audit-keys.js';
import {
  type AnchorBody, type BadPosition, type ChainResult, type CheckpointBody, ChainVerifier, GENESIS, checkAgainst, macMatches, openSealed, parseBody, readSealed, seal, sealEntry,
} from './chain.js';
import type { AuditEvent, AuditInput, StoredEvent } from './events.js';

export type { AuditEvent, AuditInput, StoredEvent } from './events.js';

export interface AuditTrailOptions {
  store: Store;
  keys: AuditKeys;
  logger: Logger;
  /** Events older than this are cut by `retain()` (default 400 days). */
  retentionDays?: number;
  /** At most this many events are kept per writer's chain (default: no limit). */
  maxEventsPerWriter?: number;
  /** How often a writer that appended signs a checkpoint (default 60 s). */
  checkpointSeconds?: number;
  now?: () => Date;
  /**
   * Benchmarks only (`MANDATE_BENCH_SKIP_AUDIT`, refused in production): events are logged but not
   * stored, so `npm run bench` can show what the trail costs.
   */
  skipStore?: boolean;
}

export interface VerifyResult {
  valid: boolean;
  /** Events examined. */
  checked: number;
  first_bad: BadPosition | null;
  chains: { writer: string; checked: number; last: number; valid: boolean }[];
  checkpoints: number;
}

export interface AuditQuery {
  subject?: string;
  agent?: string;
  jti?: string;
  type?: string;
  since?: Date;
  until?: Date;
  cursor?: string;
  limit: number;
}

/** Page size when a chain is read whole (verification, retention, queries). */
const READ_PAGE = 1000;

/**
 * The audit trail (SPEC section 7): the one `record()` every decision point calls.
 *
 * `record()` seals the events into this process's own chain and stores them in the same round
 * trip as the writes they describe (`with`: a token record, an approval), events last, so an event
 * never lands without its subject. It resolves once all of that is stored, and only then are the
 * events logged (`"audit": true`, for a SIEM). It rejects (503) when they could not be stored:
 * callers that issue tokens let that reject the request, so no token leaves without its event.
 *
 * Appends are made and sent in one synchronous step, so they reach the store in chain order on
 * the one connection, and the store refuses an append that does not follow the chain's end. After
 * a failure the writer re-reads its chain's end before appending again.
 */
export class AuditTrail {
  /** This process's chain. */
  readonly writer = `w${randomBytes(6).toString('hex')}`;
  readonly #o: Required<Omit<AuditTrailOptions, 'maxEventsPerWriter'>> & Pick<AuditTrailOptions, 'maxEventsPerWriter'>;
  /** End of the chain as this writer made it (optimistic: includes appends in flight). */
  #head = { n: 0, h: GENESIS };
  /** End of the chain as last confirmed stored. */
  #stored = { n: 0, h: GENESIS };
  #dirty = false;
  #resyncing: Promise<void> | undefined;
  #registered = false;
  #checkpointed = 0;
  /** Chain ends this writer's checkpoints already record: a dead writer's end is not repeated every minute. */
  readonly #recorded = new Map<string, number>();

  constructor(options: AuditTrailOptions) {
    this.#o = { retentionDays: 400, checkpointSeconds: 60, now: () => new Date(), skipStore: false, ...options };
  }

  /**
   * Stores the events (after `with`, in one round trip) and then logs them. Rejects, logging
   * nothing as an audit event, when they are not stored.
   */
  async record(input: AuditInput | readonly AuditInput[], options: { with?: readonly WriteOp[] } = {}): Promise<AuditEvent[]> {
    const time = this.#o.now().toISOString();
    const events: AuditEvent[] = (Array.isArray(input) ? input : [input]).map((i: AuditInput) => ({ id: randomUUID(), time, ...i }));
    const { store, logger } = this.#o;
    try {
      if (this.#o.skipStore) {
        await store.writeBatch(options.with ?? []);
      } else {
        if (this.#dirty) await this.#resync();
        await this.#append(events, options.with ?? []);
      }
    } catch (err) {
      logger.warn({ audit_unstored: events.map((e) => e.type), request_id: events[0]?.request_id, err: { message: (err as Error).message } }, 'audit event not stored');
      throw err;
    }
    for (const event of events) logger.info({ audit: true, event }, event.type);
    return events;
  }

  /** `record()` for events that must not fail their caller (refusals): a store failure is logged. */
  async recordBestEffort(input: AuditInput | readonly AuditInput[]): Promise<void> {
    await this.record(input).catch(() => undefined);
  }

  /** Seals and sends in one synchronous step: nothing may await between taking positions and sending. */
  #append(events: readonly AuditEvent[], before: readonly WriteOp[]): Promise<void> {
    const { keys, store } = this.#o;
    const key = keys.current;
    const chain = auditChainKey(this.writer);
    const index: WriteOp[] = [];
    const appends: WriteOp[] = [];
    let { n, h } = this.#head;
    for (const event of events) {
      n += 1;
      const entry = sealEntry(key, this.writer, n, h, event);
      appends.push({ op: 'append', key: chain, position: n, prev: h, ...entry });
      if (event.type === 'token.issued' && event.jti) {
        index.push({ op: 'set', key: auditTokenKey(event.jti), value: `${this.writer} ${n}`, ttlSeconds: this.#retentionSeconds() });
      }
      h = entry.link;
    }
    const register: WriteOp[] = this.#registered ? [] : [{ op: 'addToSet', key: auditWritersKey(), member: this.writer, ttlSeconds: null }];
    this.#head = { n, h };
    // Events last: a batch cut short by an outage stores a prefix, so never an event without its subject.
    return store.writeBatch([...before, ...index, ...register, ...appends]).then(() => {
      this.#registered = true;
      if (n > this.#stored.n) this.#stored = { n, h };
    }, (err: unknown) => {
      this.#dirty = true;
      throw err;
    });
  }

  /** After a failed append: learn where the chain really ends (once, however many callers wait). */
  async #resync(): Promise<void> {
    this.#resyncing ??= (async () => {
      try {
        const last = await this.#o.store.lastLogEntry(auditChainKey(this.writer));
        // An empty chain after appends means the store lost it; carrying on from what was stored
        // makes verification report the loss rather than hide it behind a fresh start.
        this.#head = last ? { n: last.position, h: last.link } : { ...this.#stored };
        this.#dirty = false;
      } finally {
        this.#resyncing = undefined;
      }
    })();
    await this.#resyncing;
  }

  // ——— checkpoints and retention ———

  /**
   * Signs the end of every chain that moved since this writer's last checkpoint (its own always),
   * so that removing a chain's newest events is detected. Skipped when this writer appended
   * nothing since its last checkpoint, unless `force`.
   */
  async checkpoint(options: { force?: boolean } = {}): Promise<boolean> {
    if (this.#o.skipStore || (!options.force && this.#stored.n === this.#checkpointed)) return false;
    const { store, keys } = this.#o;
    const mine = this.#stored.n;
    const writers = await store.setMembers(auditWritersKey());
    const lasts = await Promise.all(writers.map((w) => store.lastLogEntry(auditChainKey(w))));
    const heads: CheckpointBody['heads'] = {};
    for (const [i, last] of lasts.entries()) {
      const writer = writers[i]!;
      if (last && (writer === this.writer || this.#recorded.get(writer) !== last.position)) heads[writer] = { n: last.position, h: last.link };
    }
    if (Object.keys(heads).length === 0) return false;
    await store.addToSet(auditCheckpointsKey(), seal(keys.current, { v: 1, type: 'checkpoint', by: this.writer, time: this.#o.now().toISOString(), heads }), null);
    for (const [writer, head] of Object.entries(heads)) this.#recorded.set(writer, head.n);
    this.#checkpointed = mine;
    return true;
  }

  /** Signs a checkpoint every `checkpointSeconds` while this writer appends; returns the stop function. */
  startCheckpoints(): () => void {
    const timer = setInterval(() => {
      this.checkpoint().catch((err: unknown) => this.#o.logger.warn({ err: { message: (err as Error).message } }, 'audit checkpoint not stored'));
    }, this.#o.checkpointSeconds * 1000);
    timer.unref();
    return () => clearInterval(timer);
  }

  /**
   * Retention: cuts each chain's events older than `retentionDays` (or beyond `maxEventsPerWriter`),
   * always keeping its newest event. The cut part is verified first and its end is sealed as the
   * chain's anchor before anything is removed, so the kept part still verifies; a chain that does
   * not verify is left whole (it is evidence). Old checkpoints go too. Returns events removed.
   */
  async retain(): Promise<number> {
    if (this.#o.skipStore) return 0;
    const { store, keys, logger } = this.#o;
    const cutoff = this.#o.now().getTime() - this.#retentionSeconds() * 1000;
    let removed = 0;
    for (const writer of await store.setMembers(auditWritersKey())) {
      const anchor = await this.#anchor(writer);
      const verifier = new ChainVerifier(keys, writer, anchor);
      const kept: LogEntry[] = [];
      await this.#readChain(writer, (entry) => {
        if (!verifier.add(entry)) return false;
        // Entries an earlier cut anchored but did not trim yet are not counted again.
        if (!(anchor && anchor !== 'invalid' && entry.position <= anchor.n)) kept.push(entry);
        return true;
      });
      if (verifier.result.first_bad) {
        logger.error({ first_bad: verifier.result.first_bad }, 'audit chain does not verify: retention leaves it whole');
        continue;
      }
      const max = this.#o.maxEventsPerWriter;
      let cut = 0;
      for (const [i, entry] of kept.entries()) {
        if (i === kept.length - 1) break;
        const old = Date.parse(parseBody(entry.body)!.e.time) < cutoff;
        const over = max !== undefined && kept.length - i > max;
        if (!old && !over) break;
        cut = i + 1;
      }
      if (cut === 0) continue;
      const last = kept[cut - 1]!;
      const body: Omit<AnchorBody, 'k'> = { v: 1, type: 'anchor', w: writer, n: last.position, h: last.link, time: this.#o.now().toISOString() };
      await store.set(auditAnchorKey(writer), seal(keys.current, body), { ttlSeconds: null });
      removed += await store.trimLog(auditChainKey(writer), last.position + 1);
    }
    const checkpoints = await store.setMembers(auditCheckpointsKey());
    const dated = checkpoints.map((raw) => ({ raw, time: Date.parse(openSealed<CheckpointBody>(keys, raw, 'checkpoint')?.time ?? '') }));
    const newest = Math.max(...dated.map((c) => (Number.isNaN(c.time) ? -Infinity : c.time)));
    for (const { raw, time } of dated) if (time < cutoff && time < newest) await store.removeFromSet(auditCheckpointsKey(), raw);
    return removed;
  }

  // ——— verification ———

  /** Verifies every chain, its anchor and every checkpoint; names the first bad position. */
  async verify(): Promise<VerifyResult> {
    const { store, keys } = this.#o;
    const checkpoints: CheckpointBody[] = [];
    let badCheckpoint: BadPosition | null = null;
    for (const raw of await store.setMembers(auditCheckpointsKey())) {
      const body = openSealed<CheckpointBody>(keys, raw, 'checkpoint');
      if (body) checkpoints.push(body);
      else badCheckpoint ??= { writer: String(readSealed(raw)?.parsed.by ?? '-'), position: 0, reason: 'a checkpoint is altered or sealed with an unknown key' };
    }
    checkpoints.sort((a, b) => a.time.localeCompare(b.time));
    // Writers a checkpoint names count even when their chain and registration are gone.
    const writers = [...new Set([...(await store.setMembers(auditWritersKey())), ...checkpoints.flatMap((c) => Object.keys(c.heads))])].sort();
    const chains = new Map<string, ChainResult>();
    const anchors = new Map<string, AnchorBody>();
    // The positions checkpoints name, per writer: the verifier keeps their links to compare.
    const wanted = new Map<string, Set<number>>();
    for (const checkpoint of checkpoints) {
      for (const [writer, head] of Object.entries(checkpoint.heads)) wanted.set(writer, (wanted.get(writer) ?? new Set()).add(head.n));
    }
    for (const writer of writers) {
      const anchor = await this.#anchor(writer);
      if (anchor && anchor !== 'invalid') anchors.set(writer, anchor);
      const verifier = new ChainVerifier(keys, writer, anchor, wanted.get(writer));
      await this.#readChain(writer, (entry) => verifier.add(entry));
      chains.set(writer, verifier.result);
    }
    let firstBad: BadPosition | null = [...chains.values()].find((c) => c.first_bad)?.first_bad ?? null;
    for (const checkpoint of checkpoints) {
      if (firstBad) break;
      firstBad = checkAgainst(checkpoint, chains, anchors);
    }
    firstBad ??= badCheckpoint;
    const bad = new Set(firstBad ? [firstBad.writer] : []);
    return {
      valid: firstBad === null,
      checked: [...chains.values()].reduce((sum, c) => sum + c.checked, 0),
      first_bad: firstBad,
      chains: [...chains.values()].map((c) => ({ writer: c.writer, checked: c.checked, last: c.head?.n ?? 0, valid: c.first_bad === null && !bad.has(c.writer) })),
      checkpoints: checkpoints.length,
    };
  }

  // ——— queries ———

  /**
   * Events matching every filter, newest first, `limit` at a time. `agent` matches the client or
   * any actor; `subject` the subject's `sub`; `type` exactly, or a family with a trailing `.*`.
   */
  async list(query: AuditQuery): Promise<{ items: StoredEvent[]; next_cursor: string | null }> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const matches: StoredEvent[] = [];
    for (const writer of await this.#o.store.setMembers(auditWritersKey())) {
      await this.#readChain(writer, (entry) => {
        const body = parseBody(entry.body);
        if (body && matchesQuery(body.e, query)) matches.push({ ...body.e, trail: { writer, position: body.n } });
        return true;
      });
    }
    matches.sort(newestFirst);
    const start = after === undefined ? 0 : matches.findIndex((e) => newestFirst(e, after) > 0);
    const page = start < 0 ? [] : matches.slice(start, start + query.limit);
    const more = start >= 0 && start + query.limit < matches.length;
    return { items: page, next_cursor: more ? encodeCursor(page.at(-1)!) : null };
  }

  /** The `token.issued` event of a token, found through its index entry, or undefined. */
  async tokenEvent(jti: string): Promise<StoredEvent | undefined> {
    const { store, keys } = this.#o;
    const pointer = await store.get(auditTokenKey(jti));
    const [writer, position] = pointer?.split(' ') ?? [];
    if (!writer || !position) return undefined;
    const [entry] = await store.readLog(auditChainKey(writer), { after: Number(position) - 1, count: 1 });
    const body = entry && parseBody(entry.body);
    // Only a sealed entry counts: a forged index or entry is not evidence.
    const key = body && keys.get(body.k);
    if (!body || !key || body.w !== writer || body.e.jti !== jti || body.e.type !== 'token.issued' || !macMatches(key, entry.body, entry.link)) return undefined;
    return { ...body.e, trail: { writer, position: body.n } };
  }

  async #anchor(writer: string): Promise<AnchorBody | 'invalid' | undefined> {
    const raw = await this.#o.store.get(auditAnchorKey(writer));
    return raw === null ? undefined : (openSealed<AnchorBody>(this.#o.keys, raw, 'anchor') ?? 'invalid');
  }

  /** Reads a chain oldest first in pages, until `visit` returns false. */
  async #readChain(writer: string, visit: (entry: LogEntry) => boolean): Promise<void> {
    let after: number | undefined;
    for (;;) {
      const page = await this.#o.store.readLog(auditChainKey(writer), { ...(after === undefined ? {} : { after }), count: READ_PAGE });
      for (const entry of page) if (!visit(entry)) return;
      if (page.length < READ_PAGE) return;
      after = page.at(-1)!.position;
    }
  }

  #retentionSeconds(): number {
    return this.#o.retentionDays * 86_400;
  }
}

function matchesQuery(event: AuditEvent, q: AuditQuery): boolean {
  if (q.subject !== undefined && event.subject?.sub !== q.subject) return false;
  if (q.agent !== undefined && event.client_id !== q.agent && !event.actors?.includes(q.agent)) return false;
  if (q.jti !== undefined && event.jti !== q.jti) return false;
  if (q.type !== undefined && (q.type.endsWith('.*') ? !event.type.startsWith(q.type.slice(0, -1)) : event.type !== q.type)) return false;
  const time = Date.parse(event.time);
  if (q.since !== undefined && time < q.since.getTime()) return false;
  if (q.until !== undefined && time >= q.until.getTime()) return false;
  return true;
}

type Cursor = Pick<StoredEvent, 'time' | 'trail'>;

/** Newest first; within one millisecond by writer, then position (newest first). */
function newestFirst(a: Cursor, b: Cursor): number {
  if (a.time !== b.time) return a.time < b.time ? 1 : -1;
  if (a.trail.writer !== b.trail.writer) return a.trail.writer < b.trail.writer ? -1 : 1;
  return b.trail.position - a.trail.position;
}

function encodeCursor(event: StoredEvent): string {
  return Buffer.from(JSON.stringify([event.time, event.trail.writer, event.trail.position])).toString('base64url');
}

/** A cursor is opaque to clients; one that does not decode is a 400 (checked by the route). */
export function decodeCursor(cursor: string): Cursor | undefined {
  try {
    const [time, writer, position] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as unknown[];
    if (typeof time !== 'string' || typeof writer !== 'string' || !Number.isSafeInteger(position)) return undefined;
    return { time, trail: { writer, position: position as number } };
  } catch {
    return undefined;
  }
}

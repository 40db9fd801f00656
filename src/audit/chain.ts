import { createHmac, timingSafeEqual } from 'node:crypto';

import type { LogEntry } from '../store/store.js';
import type { AuditKey, AuditKeys } from './audit-keys.js';
import type { AuditEvent } from './events.js';

/**
 * The tamper evidence of the audit trail, as pure functions over what the store holds.
 *
 * Each writer (a process) appends to its own chain, so no lock is shared on the hot path. An
 * entry's body names its writer, its position (1, 2, …), the link of the entry before it and the
 * event; its link is an HMAC-SHA256 of the body under the audit key. The store appends an entry
 * only after the link it names (`WriteOp` `append`), so a chain has no gaps however writes fail.
 * Verification walks each chain: a changed event breaks its own link, an inserted one has no valid
 * link, a removed one leaves a jump in positions, and a moved one appears at the wrong position.
 *
 * Signed checkpoints record the end of every chain now and then, so that removing the newest
 * events is detected too; retention anchors record where a chain was cut, so the kept part still
 * verifies.
 */

/** The `prev` of a chain's first entry. */
export const GENESIS = '-';

export interface EntryBody {
  v: 1;
  /** Writer. */
  w: string;
  /** Position in the writer's chain, from 1. */
  n: number;
  /** Link of the entry before (GENESIS for the first). */
  p: string;
  /** Audit key id. */
  k: string;
  e: AuditEvent;
}

export function mac(key: AuditKey, text: string): string {
  return createHmac('sha256', key.secret).update(text).digest('base64url');
}

export function macMatches(key: AuditKey, text: string, claimed: string): boolean {
  const expected = Buffer.from(mac(key, text));
  const actual = Buffer.from(claimed);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The body and link of the entry for `event` at `position` after `prev`. */
export function sealEntry(key: AuditKey, writer: string, position: number, prev: string, event: AuditEvent): { body: string; link: string } {
  const body = JSON.stringify({ v: 1, w: writer, n: position, p: prev, k: key.kid, e: event } satisfies EntryBody);
  return { body, link: mac(key, body) };
}

/** Parses a stored body without trusting it (verification checks it). */
export function parseBody(body: string): EntryBody | undefined {
  try {
    const parsed = JSON.parse(body) as Partial<EntryBody>;
    const ok = parsed.v === 1 && typeof parsed.w === 'string' && Number.isSafeInteger(parsed.n) && typeof parsed.p === 'string'
      && typeof parsed.k === 'string' && typeof parsed.e === 'object' && parsed.e !== null;
    return ok ? (parsed as EntryBody) : undefined;
  } catch {
    return undefined;
  }
}

/** A signed statement (checkpoint or anchor), stored as JSON `{body, mac}`. */
export interface Sealed {
  body: string;
  mac: string;
}

export interface CheckpointBody {
  v: 1;
  type: 'checkpoint';
  /** The writer that made it. */
  by: string;
  time: string;
  k: string;
  /** The end of every chain at that time. */
  heads: Record<string, { n: number; h: string }>;
}

export interface AnchorBody {
  v: 1;
  type: 'anchor';
  w: string;
  /** The last position cut by retention, and its link: the kept part continues from here. */
  n: number;
  h: string;
  time: string;
  k: string;
}

export function seal(key: AuditKey, body: Omit<CheckpointBody, 'k'> | Omit<AnchorBody, 'k'>): string {
  const text = JSON.stringify({ ...body, k: key.kid });
  return JSON.stringify({ body: text, mac: mac(key, text) } satisfies Sealed);
}

/** The fields read from a sealed statement before it is verified. */
interface SealedFields {
  type?: unknown;
  k?: unknown;
  by?: unknown;
}

/** A stored sealed statement parsed but NOT verified (to name it in a report); undefined when unreadable. */
export function readSealed(stored: string): (Sealed & { parsed: SealedFields }) | undefined {
  try {
    const sealed = JSON.parse(stored) as Partial<Sealed>;
    if (typeof sealed.body !== 'string' || typeof sealed.mac !== 'string') return undefined;
    const parsed = JSON.parse(sealed.body) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    return { body: sealed.body, mac: sealed.mac, parsed: parsed as SealedFields };
  } catch {
    return undefined;
  }
}

/** The body of a sealed statement if its MAC verifies under a known key, else undefined. */
export function openSealed<T extends CheckpointBody | AnchorBody>(keys: AuditKeys, stored: string, type: T['type']): T | undefined {
  const sealed = readSealed(stored);
  const key = typeof sealed?.parsed.k === 'string' ? keys.get(sealed.parsed.k) : undefined;
  return sealed && key && sealed.parsed.type === type && macMatches(key, sealed.body, sealed.mac) ? (sealed.parsed as unknown as T) : undefined;
}

/** The first place verification failed: the writer's chain, the position, and why. */
export interface BadPosition {
  writer: string;
  position: number;
  reason: string;
  /** The event found there, when it could be read. */
  event_id?: string;
}

export interface ChainResult {
  writer: string;
  /** Entries examined (up to and including the first bad one). */
  checked: number;
  /** Position and link of the last good entry (the anchor's when none). */
  head: { n: number; h: string } | undefined;
  first_bad: BadPosition | null;
  /** Links at the positions asked for (checkpoints compare them). */
  links: Map<number, string>;
}

/**
 * Verifies one writer's chain from its anchor (or its start), entry by entry in stored order, so a
 * long chain is read in pages and never held whole. `anchor` must be verified already
 * (`openSealed`); a stored anchor that does not verify is passed as 'invalid'.
 */
export class ChainVerifier {
  readonly result: ChainResult;
  readonly #keys: AuditKeys;
  readonly #anchor: AnchorBody | undefined;
  readonly #wanted: ReadonlySet<number>;
  #expected: { n: number; prev: string };

  constructor(keys: AuditKeys, writer: string, anchor: AnchorBody | 'invalid' | undefined, wanted: ReadonlySet<number> = new Set()) {
    this.#keys = keys;
    this.#wanted = wanted;
    this.#anchor = anchor === 'invalid' ? undefined : anchor;
    this.#expected = this.#anchor ? { n: this.#anchor.n + 1, prev: this.#anchor.h } : { n: 1, prev: GENESIS };
    this.result = { writer, checked: 0, head: this.#anchor ? { n: this.#anchor.n, h: this.#anchor.h } : undefined, first_bad: null, links: new Map() };
    if (anchor === 'invalid') this.result.first_bad = { writer, position: 1, reason: 'its retention anchor is altered or sealed with an unknown key' };
  }

  /** Checks the next entry; false once a bad one has been found (the rest need not be read). */
  add(entry: LogEntry): boolean {
    const { result } = this;
    if (result.first_bad) return false;
    const writer = result.writer;
    const body = parseBody(entry.body);
    // An entry still there after a cut whose anchor was written first.
    if (body && this.#anchor && body.n <= this.#anchor.n && body.w === writer) return true;
    result.checked += 1;
    const expected = this.#expected;
    const bad = (reason: string): boolean => {
      result.first_bad = { writer, position: expected.n, reason, ...(body && typeof body.e.id === 'string' ? { event_id: body.e.id } : {}) };
      return false;
    };
    if (!body) return bad('the entry is unreadable');
    const key = this.#keys.get(body.k);
    if (!key) return bad(`the entry is sealed with an unknown audit key (${body.k})`);
    if (!macMatches(key, entry.body, entry.link)) return bad('the entry was altered: its seal does not match its content');
    if (body.w !== writer) return bad(`the entry belongs to writer ${body.w}`);
    if (body.n > expected.n) {
      const gap = body.n === expected.n + 1 ? `event ${expected.n} is` : `events ${expected.n} to ${body.n - 1} are`;
      return bad(`event ${body.n} is where event ${expected.n} belongs: ${gap} missing or out of order`);
    }
    if (body.n < expected.n) return bad(`event ${body.n} appears again, out of order`);
    if (body.p !== expected.prev) return bad('the entry does not follow the one before it');
    if (entry.position !== body.n) return bad(`the entry is stored at position ${entry.position}`);
    if (this.#wanted.has(body.n)) result.links.set(body.n, entry.link);
    result.head = { n: body.n, h: entry.link };
    this.#expected = { n: body.n + 1, prev: entry.link };
    return true;
  }
}

/**
 * Checks chains against a checkpoint: each chain it names must reach the recorded position with the
 * recorded link, unless retention has cut that far. Returns the first disagreement.
 */
export function checkAgainst(checkpoint: CheckpointBody, chains: ReadonlyMap<string, ChainResult>, anchors: ReadonlyMap<string, AnchorBody>): BadPosition | null {
  for (const writer of Object.keys(checkpoint.heads).sort()) {
    const { n, h } = checkpoint.heads[writer]!;
    const anchor = anchors.get(writer);
    if (anchor && n <= anchor.n) continue;
    const chain = chains.get(writer);
    // A chain already reported bad has its own first_bad.
    if (chain?.first_bad) continue;
    const end = chain?.head?.n ?? 0;
    if (end < n) {
      return { writer, position: end + 1, reason: `the checkpoint of ${checkpoint.time} records ${n} events, the trail ends at ${end}: events ${end + 1} to ${n} are missing` };
    }
    const link = chain?.links.get(n);
    if (link !== h) return { writer, position: n, reason: `the event differs from the checkpoint of ${checkpoint.time}` };
  }
  return null;
}

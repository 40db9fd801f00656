import { LogConflictError } from '../errors.js';
import type { JsonScalar, LogEntry, SetOptions, Store, Ttl, WriteOp } from './store.js';

/**
 * The embedded store: everything in one Map, for a single process (`REDIS_URL` unset).
 *
 * It keeps Redis's semantics so both stores pass one contract suite: a TTL on every key, expired
 * keys invisible at once (checked on every read) and reclaimed by a periodic sweep so memory stays
 * bounded by what is live. Every method runs without an `await` between its read and its write,
 * which makes each one atomic on JavaScript's single thread.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS);
    // The sweep must not keep a finished process (or a test run) alive.
    this.#sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.#string(key)?.value ?? null;
  }

  async getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.#string(key)?.value ?? null);
  }

  async set(key: string, value: string, options: SetOptions): Promise<boolean> {
    const expiresAt = this.#expiresAt(options.ttlSeconds);
    if (options.onlyIfAbsent && this.#live(key)) return false;
    this.#entries.set(key, { kind: 'string', value, expiresAt });
    return true;
  }

  async readLog(key: string, options: { after?: number; count: number }): Promise<LogEntry[]> {
    const entries = this.#log(key)?.entries ?? [];
    const after = options.after ?? 0;
    // Positions strictly increase: binary search for the first one after `after`, so paging through
    // a long log costs a page per call, not a scan from its start.
    let low = 0;
    let high = entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (entries[middle]!.position <= after) low = middle + 1;
      else high = middle;
    }
    return entries.slice(low, low + options.count).map((entry) => ({ ...entry }));
  }

  async lastLogEntry(key: string): Promise<LogEntry | null> {
    const last = this.#log(key)?.entries.at(-1);
    return last ? { ...last } : null;
  }

  async trimLog(key: string, keepFrom: number): Promise<number> {
    const log = this.#log(key);
    if (!log) return 0;
    const before = log.entries.length;
    log.entries = log.entries.filter((entry) => entry.position >= keepFrom);
    if (log.entries.length === 0) this.#entries.delete(key);
    return before - log.entries.length;
  }

  async compareAndSet(key: string, expected: string, value: string): Promise<boolean> {
    const entry = this.#string(key);
    if (!entry || entry.value !== expected) return false;
    entry.value = value;
    return true;
  }

  async delete(...keys: string[]): Promise<number> {
    let existed = 0;
    for (const key of keys) {
      if (this.#live(key)) existed += 1;
      this.#entries.delete(key);
    }
    return existed;
  }

  async ttl(key: string): Promise<number> {
    const entry = this.#live(key);
    if (!entry) return -2;
    if (entry.expiresAt === Infinity) return -1;
    // Rounded to the nearest second, as Redis's TTL command does.
    return Math.floor((entry.expiresAt - this.#now() + 500) / 1000);
  }

  async setJsonFieldIfAbsent(key: string, field: string, value: JsonScalar): Promise<'set' | 'present' | 'missing'> {
    assertJsonScalar(value);
    const entry = this.#string(key);
    if (!entry) return 'missing';
    const object = parseObject(entry.value);
    if (!object) throw new TypeError(`the value at ${key} is not a JSON object`);
    if (Object.hasOwn(object, field)) return 'present';
    // A computed key in a literal always makes an own property, even for '__proto__'.
    entry.value = JSON.stringify({ ...object, [field]: value });
    return 'set';
  }

  async addToSet(key: string, member: string, ttlSeconds: Ttl): Promise<void> {
    this.#addToSet(key, member, ttlSeconds);
  }

  #addToSet(key: string, member: string, ttlSeconds: Ttl): void {
    const expiresAt = this.#expiresAt(ttlSeconds);
    const entry = this.#set(key);
    if (!entry) {
      this.#entries.set(key, { kind: 'set', members: new Set([member]), expiresAt });
      return;
    }
    entry.members.add(member);
    entry.expiresAt = Math.max(entry.expiresAt, expiresAt);
  }

  /**
   * Applies the writes in order without yielding, so batches never interleave (Redis runs one
   * connection's pipelines in the order they were sent, which the audit trail relies on).
   */
  async writeBatch(ops: readonly WriteOp[]): Promise<void> {
    for (const op of ops) {
      if (op.op === 'set') this.#entries.set(op.key, { kind: 'string', value: op.value, expiresAt: this.#expiresAt(op.ttlSeconds) });
      else if (op.op === 'addToSet') this.#addToSet(op.key, op.member, op.ttlSeconds);
      else this.#append(op);
    }
  }

  #append(op: Extract<WriteOp, { op: 'append' }>): void {
    const log = this.#log(op.key);
    const last = log?.entries.at(-1);
    if (last && (last.link !== op.prev || last.position >= op.position)) throw new LogConflictError();
    const entry = { position: op.position, link: op.link, body: op.body };
    if (log) log.entries.push(entry);
    else this.#entries.set(op.key, { kind: 'log', entries: [entry], expiresAt: Infinity });
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    const entry = this.#set(key);
    if (!entry) return;
    entry.members.delete(member);
    // Redis deletes a set whose last member goes.
    if (entry.members.size === 0) this.#entries.delete(key);
  }

  async setMembers(key: string): Promise<string[]> {
    return [...(this.#set(key)?.members ?? [])];
  }

  async setSize(key: string): Promise<number> {
    return this.#set(key)?.members.size ?? 0;
  }

  async increment(key: string, ttlSeconds: number): Promise<number> {
    const expiresAt = this.#expiresAt(ttlSeconds);
    const entry = this.#string(key);
    if (!entry) {
      this.#entries.set(key, { kind: 'string', value: '1', expiresAt });
      return 1;
    }
    const current = Number(entry.value);
    if (!Number.isSafeInteger(current)) throw new TypeError(`the value at ${key} is not an integer`);
    entry.value = String(current + 1);
    return current + 1;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }

  /** Drops every expired entry; runs on a timer, public so tests can trigger it. */
  sweep(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  /** Number of entries held, expired or not: lets tests check that the sweep frees memory. */
  get size(): number {
    return this.#entries.size;
  }

  #live(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #string(key: string): StringEntry | undefined {
    const entry = this.#live(key);
    if (entry && entry.kind !== 'string') throw wrongType(key);
    return entry;
  }

  #set(key: string): SetEntry | undefined {
    const entry = this.#live(key);
    if (entry && entry.kind !== 'set') throw wrongType(key);
    return entry;
  }

  #log(key: string): LogEntries | undefined {
    const entry = this.#live(key);
    if (entry && entry.kind !== 'log') throw wrongType(key);
    return entry;
  }

  #expiresAt(ttlSeconds: Ttl): number {
    if (ttlSeconds === null) return Infinity;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
    }
    return this.#now() + ttlSeconds * 1000;
  }
}

export interface MemoryStoreOptions {
  /** Clock in epoch milliseconds; tests inject a fake one. Default `Date.now`. */
  now?: () => number;
  /** How often expired entries are reclaimed, in ms. Default 30 000. */
  sweepIntervalMs?: number;
}

const DEFAULT_SWEEP_INTERVAL_MS = 30_000;

interface StringEntry {
  kind: 'string';
  value: string;
  expiresAt: number;
}

interface SetEntry {
  kind: 'set';
  members: Set<string>;
  expiresAt: number;
}

/** A log (a Redis Stream): durable, trimmed by its owner. */
interface LogEntries {
  kind: 'log';
  entries: LogEntry[];
  expiresAt: number;
}

type Entry = StringEntry | SetEntry | LogEntries;

/** Using a key as two types is a programming error (Redis answers WRONGTYPE), never data. */
function wrongType(key: string): TypeError {
  return new TypeError(`WRONGTYPE: ${key} holds another kind of value`);
}

function parseObject(text: string): object | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function assertJsonScalar(value: JsonScalar): void {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError('JSON cannot represent a non-finite number');
  }
}

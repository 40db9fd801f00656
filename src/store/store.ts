/**
 * The one storage interface of Mandate. Two implementations pass the same contract suite
 * (test/store/contract.ts): `MemoryStore` (the embedded default, one process) and `RedisStore`
 * (standalone, TLS, Cluster or Sentinel). Everything Mandate keeps lives behind this interface,
 * and every key carries a TTL so nothing outlives its purpose, except the registry's records
 * (agents, users, delegations), which are durable: `ttlSeconds: null`.
 *
 * Values are strings; callers serialise. Key names come from `src/store/keys.ts` so that keys
 * touched together share a Redis Cluster hash slot.
 */
export interface Store {
  readonly kind: 'memory' | 'redis';

  /** The value at `key`, or null when missing or expired. */
  get(key: string): Promise<string | null>;

  /** Values of several keys at once (null for each missing one), in order. */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;

  /**
   * Writes `value` with a TTL (seconds, > 0; null: durable). With `onlyIfAbsent`, writes only when
   * the key does not exist. Returns whether the value was written.
   */
  set(key: string, value: string, options: SetOptions): Promise<boolean>;

  /**
   * Replaces the value at `key` only if it is exactly `expected`, keeping the key's TTL: the
   * optimistic lock behind every read-modify-write of a registry record. Returns whether it did.
   */
  compareAndSet(key: string, expected: string, value: string): Promise<boolean>;

  /** Removes keys; returns how many existed. */
  delete(...keys: string[]): Promise<number>;

  /** Remaining TTL in seconds; -1 for a durable key, -2 when the key does not exist. */
  ttl(key: string): Promise<number>;

  /**
   * Atomically sets `field` to `value` in the JSON object stored at `key`, only if that field is
   * absent, keeping the key's TTL. The compare-and-set behind single-use artefacts (oidc-provider's
   * `consume`, approval redemption).
   */
  setJsonFieldIfAbsent(key: string, field: string, value: JsonScalar): Promise<'set' | 'present' | 'missing'>;

  /** Adds a member to a set and makes the set live at least `ttlSeconds` from now (null: durable). */
  addToSet(key: string, member: string, ttlSeconds: Ttl): Promise<void>;

  /** Removes a member from a set (a no-op when absent). */
  removeFromSet(key: string, member: string): Promise<void>;

  /** Number of members of a set (0 when missing). */
  setSize(key: string): Promise<number>;

  /**
   * Several writes in one round trip (a Redis pipeline). Not a transaction: on failure some
   * writes may have happened, so callers write records before anything that points to them and
   * treat a rejection as "not written" (fail closed).
   */
  writeBatch(ops: readonly WriteOp[]): Promise<void>;

  /** Members of a set (empty when missing). */
  setMembers(key: string): Promise<string[]>;

  /**
   * Entries of the append-only log at `key` (a Redis Stream), oldest first: those after position
   * `after` (exclusive; from the start when omitted), at most `count`. Empty when missing.
   */
  readLog(key: string, options: { after?: number; count: number }): Promise<LogEntry[]>;

  /** The newest entry of a log, or null when it is empty or missing. */
  lastLogEntry(key: string): Promise<LogEntry | null>;

  /** Removes the entries before position `keepFrom` (retention); returns how many went. */
  trimLog(key: string, keepFrom: number): Promise<number>;

  /** Increments a counter; `ttlSeconds` applies when the counter is created. */
  increment(key: string, ttlSeconds: number): Promise<number>;

  /** Round trip to the backing service; rejects with StoreUnavailableError when it is down. */
  ping(): Promise<void>;

  /** Releases connections and timers. */
  close(): Promise<void>;
}

export type JsonScalar = string | number | boolean;

/** Seconds to live (a positive integer), or null for a durable key that never expires. */
export type Ttl = number | null;

/**
 * One write of `writeBatch`: `set` as `set()` without onlyIfAbsent, `addToSet` as `addToSet()`,
 * and `append`, which adds an entry at position `position` to the log at `key` only if the log is
 * empty or its newest entry has link `prev` and a lower position. Otherwise the batch rejects with
 * `LogConflictError`: two appends that disagree about the log's end never both land, so a chain
 * of links in a log stays unbroken however writes fail.
 */
export type WriteOp =
  | { op: 'set'; key: string; value: string; ttlSeconds: Ttl }
  | { op: 'addToSet'; key: string; member: string; ttlSeconds: Ttl }
  | { op: 'append'; key: string; position: number; prev: string; link: string; body: string };

/** One entry of an append-only log: its position (strictly increasing), its link and its body. */
export interface LogEntry {
  position: number;
  link: string;
  body: string;
}

export interface SetOptions {
  ttlSeconds: Ttl;
  onlyIfAbsent?: boolean;
}

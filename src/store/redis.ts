import type { Cluster, Redis, Result } from 'ioredis';
import { LogConflictError, StoreUnavailableError } from '../errors.js';
import { buildClient, DEFAULT_CONNECT_TIMEOUT_MS, firstConnection, type RedisStoreOptions } from './redis-connect.js';
import type { JsonScalar, LogEntry, SetOptions, Store, Ttl, WriteOp } from './store.js';

export type { RedisStoreOptions } from './redis-connect.js';

/**
 * The shared store: Redis standalone (`redis://`, `rediss://` for TLS), Sentinel or Cluster.
 *
 * Fails fast and recovers by itself: while Redis is unreachable every call rejects within about a
 * second with `StoreUnavailableError` (the server answers 503), and the client keeps reconnecting
 * in the background so service resumes as soon as Redis is back. Callers never see ioredis errors.
 *
 * Cluster-safe: every multi-command operation touches one key, and `getMany`/`delete`/`writeBatch`,
 * whose keys may live in different slots, send one command per key on a cluster (the contract
 * suite runs on a real three-master cluster: test/store/redis-cluster.test.ts).
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #client: Redis | Cluster;

  /** Takes a client built by `createRedisStore` (or a test); the store owns it from then on. */
  constructor(client: Redis | Cluster) {
    this.#client = client;
    client.defineCommand(SET_JSON_FIELD_COMMAND, { numberOfKeys: 1, lua: SET_JSON_FIELD_IF_ABSENT });
    client.defineCommand(ADD_TO_SET_COMMAND, { numberOfKeys: 1, lua: ADD_TO_SET });
    client.defineCommand(COMPARE_AND_SET_COMMAND, { numberOfKeys: 1, lua: COMPARE_AND_SET });
  }

  get(key: string): Promise<string | null> {
    return this.#run(() => this.#client.get(key));
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return Promise.resolve([]);
    if (this.#client.isCluster) return this.#run(() => Promise.all(keys.map((key) => this.#client.get(key))));
    return this.#run(() => this.#client.mget(...keys));
  }

  async set(key: string, value: string, options: SetOptions): Promise<boolean> {
    const ttl = options.ttlSeconds;
    assertTtl(ttl);
    const reply = await this.#run(() => {
      if (ttl === null) return options.onlyIfAbsent ? this.#client.set(key, value, 'NX') : this.#client.set(key, value);
      return options.onlyIfAbsent ? this.#client.set(key, value, 'EX', ttl, 'NX') : this.#client.set(key, value, 'EX', ttl);
    });
    return reply === 'OK';
  }

  async compareAndSet(key: string, expected: string, value: string): Promise<boolean> {
    return (await this.#run(() => this.#client[COMPARE_AND_SET_COMMAND](key, expected, value))) === 1;
  }

  async delete(...keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    if (!this.#client.isCluster) return this.#run(() => this.#client.del(...keys));
    const counts = await this.#run(() => Promise.all(keys.map((key) => this.#client.del(key))));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  ttl(key: string): Promise<number> {
    return this.#run(() => this.#client.ttl(key));
  }

  async setJsonFieldIfAbsent(key: string, field: string, value: JsonScalar): Promise<'set' | 'present' | 'missing'> {
    const json = JSON.stringify(value);
    if (json === 'null') throw new TypeError('JSON cannot represent a non-finite number');
    const outcome = await this.#run(() => this.#client[SET_JSON_FIELD_COMMAND](key, field, json));
    if (outcome === 'invalid') throw new TypeError(`the value at ${key} is not a JSON object`);
    return outcome as 'set' | 'present' | 'missing';
  }

  async addToSet(key: string, member: string, ttlSeconds: Ttl): Promise<void> {
    assertTtl(ttlSeconds);
    await this.#run(() => this.#client[ADD_TO_SET_COMMAND](key, member, ttlSeconds ?? 0));
  }

  async removeFromSet(key: string, member: string): Promise<void> {
    await this.#run(() => this.#client.srem(key, member));
  }

  setSize(key: string): Promise<number> {
    return this.#run(() => this.#client.scard(key));
  }

  async writeBatch(ops: readonly WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    for (const op of ops) if (op.op !== 'append') assertTtl(op.ttlSeconds);
    if (this.#client.isCluster) {
      // A cluster pipeline must stay on one node, and a batch's keys are in different slots. Each
      // write goes on its own, all sent before any reply is awaited: still one round trip per
      // node, and writes to one node keep their order (a chain's appends share a slot).
      const cluster = this.#client as unknown as CommandSink;
      const sent = ops.map((op) => queue(cluster, op) as Promise<unknown>);
      const settled = await Promise.allSettled(sent);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw toStoreError(failed.reason);
      return;
    }
    const pipeline = this.#client.pipeline();
    for (const op of ops) queue(pipeline as unknown as CommandSink, op);
    await this.#exec(pipeline);
  }

  setMembers(key: string): Promise<string[]> {
    return this.#run(() => this.#client.smembers(key));
  }

  async readLog(key: string, options: { after?: number; count: number }): Promise<LogEntry[]> {
    const start = options.after === undefined ? '-' : `(${options.after}-0`;
    const reply = await this.#run(() => this.#client.xrange(key, start, '+', 'COUNT', options.count));
    return reply.map(logEntry);
  }

  async lastLogEntry(key: string): Promise<LogEntry | null> {
    const [last] = await this.#run(() => this.#client.xrevrange(key, '+', '-', 'COUNT', 1));
    return last ? logEntry(last) : null;
  }

  trimLog(key: string, keepFrom: number): Promise<number> {
    return this.#run(() => this.#client.xtrim(key, 'MINID', `${keepFrom}-0`));
  }

  async increment(key: string, ttlSeconds: number): Promise<number> {
    assertTtl(ttlSeconds);
    const [count] = await this.#exec(this.#client.multi().incr(key).expire(key, ttlSeconds, 'NX'));
    return count as number;
  }

  async ping(): Promise<void> {
    await this.#run(() => this.#client.ping());
  }

  async close(): Promise<void> {
    try {
      await this.#client.quit();
    } catch {
      // Not connected: quit cannot be sent, but disconnect still stops the reconnect loop.
      this.#client.disconnect();
    }
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw toStoreError(error);
    }
  }

  /** Runs a MULTI and returns each command's reply, failing if any command failed. */
  async #exec(multi: ReturnType<Redis['multi']>): Promise<unknown[]> {
    const replies = await this.#run(() => multi.exec());
    if (replies === null) throw new StoreUnavailableError();
    return replies.map(([error, reply]) => {
      if (error) throw toStoreError(error);
      return reply;
    });
  }
}

/**
 * Connects to Redis and resolves once it answers, or rejects with `StoreUnavailableError` naming
 * the host (never the password) when it cannot within `connectTimeoutMs`: fail fast at start-up.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const { client, target } = buildClient(options);
  const onError = options.onError ?? (() => {});
  // Without a listener, an 'error' event would crash the process during an outage.
  client.on('error', onError);
  if (client.isCluster) client.on('node error', onError);
  await firstConnection(client, target, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  if (client.isCluster) {
    // ioredis connects to each master on its first command, and a command sent while that
    // connection is still opening is retried on a random node and redirected (MOVED), out of
    // order. Opening them all now keeps a batch's writes to one node in the order they were sent.
    await Promise.all((client as Cluster).nodes('master').map((node) => node.ping())).catch((error: unknown) => {
      client.disconnect();
      throw toStoreError(error);
    });
  }
  return new RedisStore(client);
}

/**
 * Using a key as the wrong type is a programming error and surfaces as the same TypeError the
 * memory store throws; any other failure (refused, timed out, not connected, CLUSTERDOWN, LOADING,
 * READONLY…) means the store cannot serve now.
 */
function toStoreError(error: unknown): Error {
  if (error instanceof StoreUnavailableError || error instanceof TypeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('MANDATE_LOG_CONFLICT')) return new LogConflictError();
  if (message.startsWith('WRONGTYPE') || message.startsWith('ERR value is not an integer')) {
    return new TypeError(message);
  }
  const unavailable = new StoreUnavailableError();
  unavailable.cause = error;
  return unavailable;
}

function assertTtl(ttlSeconds: Ttl): void {
  if (ttlSeconds === null) return;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
  }
}

/** What `queue` needs of a pipeline or a cluster client: the three commands a batch sends. */
interface CommandSink {
  eval(script: string, numberOfKeys: number, ...args: string[]): unknown;
  set(key: string, value: string, ...args: (string | number)[]): unknown;
  mandateAddToSet(key: string, member: string, ttlSeconds: number): unknown;
}

/** Sends one write of a batch (TTLs already checked). */
function queue(sink: CommandSink, op: WriteOp): unknown {
  // EVAL, not EVALSHA: a NOSCRIPT retry would be sent after later commands, and appends must
  // reach Redis in the order they were made.
  if (op.op === 'append') return sink.eval(APPEND, 1, op.key, String(op.position), op.prev, op.link, op.body);
  if (op.op === 'addToSet') return sink[ADD_TO_SET_COMMAND](op.key, op.member, op.ttlSeconds ?? 0);
  return op.ttlSeconds === null ? sink.set(op.key, op.value) : sink.set(op.key, op.value, 'EX', op.ttlSeconds);
}

/** A stream entry `[id, [field, value, ...]]` as a LogEntry: position from the id, `h` link, `b` body. */
function logEntry([id, fields]: [string, string[]]): LogEntry {
  const entry: LogEntry = { position: Number.parseInt(id, 10), link: '', body: '' };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'h') entry.link = fields[i + 1]!;
    else if (fields[i] === 'b') entry.body = fields[i + 1]!;
  }
  return entry;
}

/**
 * KEYS[1] is a stream; ARGV: position, expected link of the newest entry, link, body. Appends
 * entry `<position>-0` {h: link, b: body} only if the stream is empty or its newest entry's link is
 * ARGV[2] (XADD itself refuses a position that is not higher). Both refusals are an error reply,
 * which fails the batch like an outage: the token that depended on it is not returned.
 */
const APPEND = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local fields = last[1][2]
  local link = nil
  for i = 1, #fields, 2 do
    if fields[i] == 'h' then link = fields[i + 1] end
  end
  if link ~= ARGV[2] then return redis.error_reply('MANDATE_LOG_CONFLICT the log moved') end
end
local ok = redis.pcall('XADD', KEYS[1], ARGV[1] .. '-0', 'h', ARGV[3], 'b', ARGV[4])
if type(ok) == 'table' and ok.err then return redis.error_reply('MANDATE_LOG_CONFLICT ' .. ok.err) end
return ok
`;

const SET_JSON_FIELD_COMMAND = 'mandateSetJsonFieldIfAbsent';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    mandateSetJsonFieldIfAbsent(key: string, field: string, valueJson: string): Result<string, Context>;
    mandateAddToSet(key: string, member: string, ttlSeconds: number): Result<number, Context>;
    mandateCompareAndSet(key: string, expected: string, value: string): Result<number, Context>;
  }
}

const ADD_TO_SET_COMMAND = 'mandateAddToSet';

/**
 * SADD, then make the set live at least ARGV[2] seconds without ever shortening it: one command
 * instead of SADD + EXPIRE NX + EXPIRE GT, which matters on the token-issuing path. ARGV[2] = 0
 * makes the set durable.
 */
const ADD_TO_SET = `
local current = redis.call('TTL', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl == 0 then
  redis.call('PERSIST', KEYS[1])
elseif current == -2 or (current ~= -1 and current < ttl) then
  redis.call('EXPIRE', KEYS[1], ttl)
end
return 1
`;

const COMPARE_AND_SET_COMMAND = 'mandateCompareAndSet';

/** SET KEYS[1] ARGV[2] only if its value is exactly ARGV[1], keeping its TTL. */
const COMPARE_AND_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
`;

/**
 * KEYS[1] holds a JSON object; ARGV[1] is a field name, ARGV[2] the field's value already encoded
 * as JSON. The object is decoded only to check it; the field is appended to the stored text, so
 * the rest stays byte for byte (cjson re-encoding would turn [] into {} and round numbers).
 */
const SET_JSON_FIELD_IF_ABSENT = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 'missing' end
local ok, object = pcall(cjson.decode, raw)
if not ok or type(object) ~= 'table' or not string.find(raw, '^%s*{') then return 'invalid' end
if object[ARGV[1]] ~= nil then return 'present' end
local pair = cjson.encode(ARGV[1]) .. ':' .. ARGV[2]
local updated
if next(object) == nil then
  updated = '{' .. pair .. '}'
else
  local last = string.match(raw, '^.*()}')
  updated = string.sub(raw, 1, last - 1) .. ',' .. pair .. '}'
end
redis.call('SET', KEYS[1], updated, 'KEEPTTL')
return 'set'
`;

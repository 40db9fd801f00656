import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions, Result } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import type { JsonScalar, SetOptions, Store } from './store.js';

/**
 * The shared store: Redis standalone (`redis://`, `rediss://` for TLS), Sentinel or Cluster.
 *
 * Fails fast and recovers by itself: while Redis is unreachable every call rejects within about a
 * second with `StoreUnavailableError` (the server answers 503), and the client keeps reconnecting
 * in the background so service resumes as soon as Redis is back. Callers never see ioredis errors.
 *
 * Cluster-safe: every multi-command operation touches one key, and `getMany`/`delete`, whose keys
 * may live in different slots, send one command per key on a cluster.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly #client: Redis | Cluster;

  /** Takes a client built by `createRedisStore` (or a test); the store owns it from then on. */
  constructor(client: Redis | Cluster) {
    this.#client = client;
    client.defineCommand(SET_JSON_FIELD_COMMAND, { numberOfKeys: 1, lua: SET_JSON_FIELD_IF_ABSENT });
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
    assertTtl(options.ttlSeconds);
    const reply = await this.#run(() =>
      options.onlyIfAbsent
        ? this.#client.set(key, value, 'EX', options.ttlSeconds, 'NX')
        : this.#client.set(key, value, 'EX', options.ttlSeconds),
    );
    return reply === 'OK';
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

  async addToSet(key: string, member: string, ttlSeconds: number): Promise<void> {
    assertTtl(ttlSeconds);
    // EXPIRE GT leaves a key without a TTL untouched, so NX first gives a new set its TTL, then GT
    // extends an existing one: the set lives at least ttlSeconds and is never shortened.
    await this.#exec(this.#client.multi().sadd(key, member).expire(key, ttlSeconds, 'NX').expire(key, ttlSeconds, 'GT'));
  }

  setMembers(key: string): Promise<string[]> {
    return this.#run(() => this.#client.smembers(key));
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

export interface RedisStoreOptions {
  /**
   * `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. With `cluster` or `sentinel`
   * only its credentials, TLS and db are used, so secrets can stay in `REDIS_URL`.
   */
  url?: string;
  /** Redis Cluster: the seed nodes; the client discovers the rest. */
  cluster?: { nodes: { host: string; port: number }[] };
  /** Redis Sentinel: the sentinels and the name of the monitored master. */
  sentinel?: { sentinels: { host: string; port: number }[]; name: string };
  /** Prepended to every key (tests use a random one to share a Redis). Default none. */
  keyPrefix?: string;
  /** How long `createRedisStore` waits for the first connection, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Receives connection errors (for debug logging); they are otherwise silenced. */
  onError?: (error: Error) => void;
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
  return new RedisStore(client);
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** A command that gets no answer within this is treated as an outage. */
const COMMAND_TIMEOUT_MS = 1000;
/** Bound on one TCP (+TLS) connection attempt. */
const CONNECT_ATTEMPT_TIMEOUT_MS = 2000;
/**
 * How long a closing socket may take to end gracefully. ioredis arms this timer even for a socket
 * that is already gone (a close during an outage), and it holds the process open: keep it short.
 */
const DISCONNECT_TIMEOUT_MS = 200;
/** Reconnect forever, backing off 100 ms per attempt up to this cap. */
const MAX_RECONNECT_DELAY_MS = 1000;

const reconnectDelay = (attempt: number): number => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS);

/** Options shared by every connection: fail fast instead of queueing, reconnect forever. */
function connectionOptions(options: RedisStoreOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    connectTimeout: CONNECT_ATTEMPT_TIMEOUT_MS,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    retryStrategy: reconnectDelay,
    // After a Sentinel failover the old master turns replica and answers READONLY: reconnect so
    // the client finds the new master.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
  };
}

function buildClient(options: RedisStoreOptions): { client: Redis | Cluster; target: string } {
  const common = connectionOptions(options);
  const fromUrl = options.url === undefined ? {} : urlAuth(options.url);
  if (options.cluster) {
    // The cluster owns these; its node connections take the rest.
    const { keyPrefix, lazyConnect, enableOfflineQueue, retryStrategy: _owned, ...redisOptions } = common;
    const clusterOptions: ClusterOptions = {
      lazyConnect,
      enableOfflineQueue,
      clusterRetryStrategy: reconnectDelay,
      redisOptions: { ...redisOptions, ...fromUrl },
      ...(keyPrefix === undefined ? {} : { keyPrefix }),
    };
    return { client: new Cluster(options.cluster.nodes, clusterOptions), target: hosts(options.cluster.nodes) };
  }
  if (options.sentinel) {
    const { sentinels, name } = options.sentinel;
    const client = new Redis({ ...common, ...fromUrl, sentinels, name, sentinelRetryStrategy: reconnectDelay });
    return { client, target: `sentinel ${hosts(sentinels)} (master ${name})` };
  }
  if (options.url === undefined) throw new TypeError('Redis needs a url, cluster nodes or sentinels');
  return { client: new Redis(options.url, common), target: new URL(options.url).host };
}

/** Credentials, TLS and db from a Redis URL, for cluster and sentinel connections. */
function urlAuth(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls' | 'db'> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never echo the URL: it may carry a password.
    throw new TypeError('the Redis URL is not a valid URL (expected redis:// or rediss://)');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`the Redis URL must start with redis:// or rediss://, not ${parsed.protocol}//`);
  }
  const db = Number(parsed.pathname.slice(1) || 0);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
  };
}

function hosts(nodes: readonly { host: string; port: number }[]): string {
  return nodes.map(({ host, port }) => `${host}:${port}`).join(',');
}

/**
 * `connect()` rejects on the first failed attempt while the retry strategy keeps trying, so wait
 * for 'ready' instead: a Redis that is still starting up still counts, within the timeout.
 */
async function firstConnection(client: Redis | Cluster, target: string, timeoutMs: number): Promise<void> {
  let lastError: Error | undefined;
  const recordError = (error: Error): void => {
    lastError = error;
  };
  let onReady = (): void => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const cause = lastError ? ` (${(lastError as NodeJS.ErrnoException).code ?? lastError.message})` : '';
      reject(new StoreUnavailableError(`cannot connect to Redis at ${target} within ${timeoutMs} ms${cause}`));
    }, timeoutMs);
  });
  client.on('error', recordError);
  client.once('ready', onReady);
  client.connect().catch(() => {});
  try {
    await Promise.race([ready, timedOut]);
  } catch (error) {
    // Stop the reconnect loop: the caller gets no client to close.
    client.disconnect();
    throw error;
  } finally {
    clearTimeout(timer);
    client.off('error', recordError);
    client.off('ready', onReady);
  }
}

/**
 * Using a key as the wrong type is a programming error and surfaces as the same TypeError the
 * memory store throws; any other failure (refused, timed out, not connected, CLUSTERDOWN, LOADING,
 * READONLY…) means the store cannot serve now.
 */
function toStoreError(error: unknown): Error {
  if (error instanceof StoreUnavailableError || error instanceof TypeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('WRONGTYPE') || message.startsWith('ERR value is not an integer')) {
    return new TypeError(message);
  }
  const unavailable = new StoreUnavailableError();
  unavailable.cause = error;
  return unavailable;
}

function assertTtl(ttlSeconds: number): void {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(`ttlSeconds must be a positive integer, got ${ttlSeconds}`);
  }
}

const SET_JSON_FIELD_COMMAND = 'mandateSetJsonFieldIfAbsent';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    mandateSetJsonFieldIfAbsent(key: string, field: string, valueJson: string): Result<string, Context>;
  }
}

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

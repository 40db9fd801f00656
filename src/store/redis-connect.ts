import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';

import { StoreUnavailableError } from '../errors.js';

/** How a RedisStore connects: topology, fail-fast options, first-connection wait. */
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

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
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

export function buildClient(options: RedisStoreOptions): { client: Redis | Cluster; target: string } {
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
export async function firstConnection(client: Redis | Cluster, target: string, timeoutMs: number): Promise<void> {
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


import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * Jest globalSetup: gives the whole run one Redis. `REDIS_URL` (e.g. a CI service) is used as is;
 * otherwise a private redis-server is started on a free port. Tests read the URL from
 * `REDIS_URL_TEST`, which reaches the workers because they are forked after this runs.
 *
 * The redis-server helpers live here rather than in ./redis.ts because jest loads this file with
 * Node's own resolver, which cannot follow a relative `.js` import to a `.ts` file; tests get
 * them re-exported from ./redis.ts.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) {
    process.env.REDIS_URL_TEST = process.env.REDIS_URL;
    return;
  }
  const redis = await spawnRedis();
  process.env.REDIS_URL_TEST = redis.url;
  // globalSetup and globalTeardown share this context, and only this context.
  (globalThis as { __mandateTestRedis?: SpawnedRedis }).__mandateTestRedis = redis;
}

export interface SpawnedRedis {
  readonly url: string;
  readonly port: number;
  /** Stops the server (an outage); the port stays reserved for `start`. */
  stop(): Promise<void>;
  /** Starts it again on the same port and waits until it answers. */
  start(): Promise<void>;
  /** Suspends the process (SIGSTOP): connections stay open but nothing answers, like a hung server. */
  freeze(): void;
  /** Resumes a frozen server (SIGCONT). */
  thaw(): void;
  /** Stops it for good and removes its directory. */
  destroy(): Promise<void>;
}

/**
 * Starts a throw-away redis-server on a free port in a temp dir, with an append-only file as in
 * production (the registry is durable there): a stop and start keeps the data.
 */
export async function spawnRedis(): Promise<SpawnedRedis> {
  const binary = findOnPath('redis-server');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mandate-redis-'));
  let child: ChildProcess | undefined;

  // A test process that ends without its teardown must not leave a redis-server behind.
  process.once('exit', () => child?.kill('SIGKILL'));

  const start = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];
    child = spawn(binary, [...args, '--dir', dir, '--logfile', join(dir, 'redis.log')], { cwd: dir, stdio: 'ignore' });
    await waitForPong(port, child, dir);
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };

  const signal = (name: NodeJS.Signals): void => {
    if (!child || child.exitCode !== null) throw new Error(`redis-server on port ${port} is not running`);
    child.kill(name);
  };
  const destroy = async (): Promise<void> => {
    child?.kill('SIGCONT');
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    destroy,
  };
}

function findOnPath(command: string): string {
  for (const folder of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(folder, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder: keep looking.
    }
  }
  throw new Error(`${command} not found on PATH: install it (apt-get install redis-server) or set REDIS_URL`);
}

/** Asks the OS for a free port; a tiny race with other processes is acceptable in tests. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('could not read a free port');
  return address.port;
}

const STARTUP_TIMEOUT_MS = 10_000;

async function waitForPong(port: number, child: ChildProcess, dir: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`redis-server on port ${port} exited with code ${child.exitCode}: ${logTail(dir)}`);
    }
    if (await answersPing(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within ${STARTUP_TIMEOUT_MS} ms: ${logTail(dir)}`);
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, 'redis.log'), 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return 'no log';
  }
}

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { freePort } from './redis.js';

const run = promisify(execFile);

export interface SpawnedCluster {
  nodes: { host: string; port: number }[];
  destroy(): Promise<void>;
}

/**
 * A throw-away Redis Cluster of three masters (no replicas) on free loopback ports, built with
 * `redis-cli --cluster create`: enough for keys in different slots to live on different nodes.
 */
export async function spawnRedisCluster(size = 3): Promise<SpawnedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'mandate-cluster-'));
  const children: ChildProcess[] = [];
  process.once('exit', () => children.forEach((c) => c.kill('SIGKILL')));
  const ports: number[] = [];
  for (let i = 0; i < size; i += 1) {
    const port = await freePort();
    const nodeDir = join(dir, String(port));
    rmSync(nodeDir, { recursive: true, force: true });
    await run('mkdir', ['-p', nodeDir]);
    children.push(spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes',
      '--cluster-config-file', join(nodeDir, 'nodes.conf'), '--dir', nodeDir, '--logfile', join(nodeDir, 'redis.log'),
    ], { stdio: 'ignore' }));
    ports.push(port);
  }
  const cli = (...args: string[]) => run('redis-cli', args, { timeout: 10_000 });
  for (const port of ports) await until(async () => (await cli('-p', String(port), 'ping')).stdout.trim() === 'PONG', `node ${port} to answer`);
  await cli('--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes');
  for (const port of ports) await until(async () => (await cli('-p', String(port), 'cluster', 'info')).stdout.includes('cluster_state:ok'), `node ${port} to see the cluster ok`);
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    async destroy() {
      await Promise.all(children.map((child) => new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(undefined);
        child.once('exit', resolve);
        child.kill('SIGTERM');
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';

import { createApp } from './app.js';
import { openAuditKeys } from './audit/audit-keys.js';
import { parseEnv, type Env } from './config/env.js';
import { ConfigError } from './config/errors.js';
import { loadPolicy } from './config/load.js';
import type { Policy } from './config/policy-schema.js';
import { KeyStore, KeyStoreError } from './keys/keystore.js';
import { createLogger } from './log.js';
import { MAX_TOKEN_TTL } from './policy/lifetime.js';
import { resolveSecrets } from './registry/secrets.js';
import { openStore } from './store/open.js';
import { StoreUnavailableError } from './errors.js';

/** How long in-flight requests get to finish after SIGTERM before connections are cut. */
const DRAIN_TIMEOUT_MS = 10_000;
/** How often a running server re-reads the key folder (picks up `npm run keys -- rotate`). */
const KEY_RELOAD_MS = 10_000;

function openKeys(env: Env, policy: Policy): Promise<KeyStore> {
  return KeyStore.open(env.keysDir, {
    // Development generates a key on first start; production must be given one.
    generateIfEmpty: !env.production,
    retentionSeconds: MAX_TOKEN_TTL + policy.limits.clock_skew_seconds,
  });
}

async function serve(env: Env, policy: Policy): Promise<void> {
  const logger = createLogger(env.logLevel);
  const secrets = resolveSecrets(policy, process.env, env.production);
  const keys = await openKeys(env, policy);
  const stopWatching = keys.watch(KEY_RELOAD_MS);
  const auditKeys = await openAuditKeys(env.keysDir, { generateIfEmpty: !env.production });
  const store = await openStore(env, policy, logger);
  const { app, governance, approvals, audit } = await createApp({
    issuer: env.issuer, policy, store, keys, secrets, logger, auditKeys,
    ...(env.adminToken ? { adminToken: env.adminToken } : {}), ...(env.benchSkipAudit ? { benchSkipAuditStore: true } : {}),
  });
  if (env.benchSkipAudit) logger.warn('MANDATE_BENCH_SKIP_AUDIT=1: audit events are NOT stored (benchmark mode)');
  const stopSweeper = governance.startSweeper([() => approvals.sweepExpired(), () => audit.retain()]);
  const stopCheckpoints = audit.startCheckpoints();

  const server: Server = createServer(app.callback());
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(env.port, env.host, resolve));
  logger.info({ issuer: env.issuer, host: env.host, port: env.port, store: store.kind, pid: process.pid }, 'mandate listening');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, draining');
    const force = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
    force.unref();
    server.close(() => {
      stopWatching();
      stopSweeper();
      stopCheckpoints();
      // The last checkpoint: removing this writer's newest events stays detectable.
      void audit.checkpoint().catch(() => false).then(() => store.close()).finally(() => {
        logger.info('stopped');
        process.exit(0);
      });
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** With MANDATE_WORKERS > 1 the primary prepares keys once, then forks workers that serve. */
async function start(): Promise<void> {
  const env = parseEnv();
  const policy = await loadPolicy(env.configPath);
  if (env.workers > 1 && cluster.isPrimary) {
    await openKeys(env, policy);
    await openAuditKeys(env.keysDir, { generateIfEmpty: !env.production });
    resolveSecrets(policy, process.env, env.production);
    for (let i = 0; i < env.workers; i += 1) cluster.fork();
    let stopping = false;
    cluster.on('exit', (worker, code, signal) => {
      if (stopping) return;
      // A crashed worker is replaced so the machine keeps its capacity.
      process.stderr.write(`mandate: worker ${worker.process.pid} exited (${signal ?? code}); starting a replacement\n`);
      cluster.fork();
    });
    const stopAll = (): void => {
      stopping = true;
      for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    };
    process.on('SIGTERM', stopAll);
    process.on('SIGINT', stopAll);
    return;
  }
  await serve(env, policy);
}

start().catch((err: unknown) => {
  // A user mistake is one clear line; anything else is a bug worth its stack.
  if (err instanceof ConfigError || err instanceof KeyStoreError || err instanceof StoreUnavailableError) {
    process.stderr.write(`mandate: ${err instanceof StoreUnavailableError ? err.error_description : err.message}\n`);
  } else {
    process.stderr.write(`mandate: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  }
  process.exit(1);
});

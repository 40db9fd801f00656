import { ConfigError, formatValue } from './errors.js';

/** Environment of SPEC section 1, parsed once at start-up. */
export interface Env {
  /** PORT: listen port (default 3000). */
  port: number;
  /** HOST: listen address (default 127.0.0.1; the Docker image sets 0.0.0.0). */
  host: string;
  /** MANDATE_ISSUER: issuer URL (default http://localhost:$PORT). */
  issuer: string;
  /** MANDATE_CONFIG: policy file path (default config/mandate.yaml). */
  configPath: string;
  /** REDIS_URL: Redis (redis:// or rediss://); unset = embedded in-memory store. */
  redisUrl: string | undefined;
  /** MANDATE_KEYS_DIR: signing keys folder (default keys/). */
  keysDir: string;
  /** MANDATE_ADMIN_TOKEN: bearer secret for /admin; unset = admin API answers 404. */
  adminToken: string | undefined;
  /** MANDATE_WORKERS: processes on one machine (node:cluster), default 1. */
  workers: number;
  /** NODE_ENV=production turns on the production refusals. */
  production: boolean;
  /** LOG_LEVEL: pino level (default info). */
  logLevel: string;
  /** MANDATE_BENCH_SKIP_AUDIT=1: `npm run bench` only; audit events are not stored. Refused in production. */
  benchSkipAudit: boolean;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function fail(key: string, value: string | undefined, expected: string): never {
  throw new ConfigError(`${key}=${formatValue(value)}: expected ${expected}`);
}

function integer(env: NodeJS.ProcessEnv, key: string, fallback: number, min: number, max: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) fail(key, raw, `an integer from ${min} to ${max}`);
  return value;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}

/** Parses and checks the environment, then applies the production refusals of SPEC section 1. */
export function parseEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const production = env.NODE_ENV === 'production';

  const issuer = env.MANDATE_ISSUER || `http://localhost:${port}`;
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    fail('MANDATE_ISSUER', issuer, 'an absolute http(s) URL such as https://auth.example.com');
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.search || url.hash) {
    fail('MANDATE_ISSUER', issuer, 'an http(s) URL without query or fragment');
  }

  const redisUrl = env.REDIS_URL || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    fail('REDIS_URL', redisUrl.replace(/\/\/[^@/]*@/, '//***@'), 'a redis:// or rediss:// URL');
  }

  const logLevel = env.LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) fail('LOG_LEVEL', logLevel, `one of ${LOG_LEVELS.join(', ')}`);

  const adminToken = env.MANDATE_ADMIN_TOKEN || undefined;
  const adminMinimum = production ? 32 : 16;
  if (adminToken !== undefined && adminToken.length < adminMinimum) {
    throw new ConfigError(`MANDATE_ADMIN_TOKEN: expected at least ${adminMinimum} characters${production ? ' when NODE_ENV=production' : ''} (value not shown)`);
  }

  const parsed: Env = {
    port,
    host: env.HOST || '127.0.0.1',
    issuer: issuer.replace(/\/$/, ''),
    configPath: env.MANDATE_CONFIG || 'config/mandate.yaml',
    redisUrl,
    keysDir: env.MANDATE_KEYS_DIR || 'keys',
    adminToken,
    workers: integer(env, 'MANDATE_WORKERS', 1, 1, 64),
    production,
    logLevel,
    benchSkipAudit: env.MANDATE_BENCH_SKIP_AUDIT === '1',
  };

  if (production) {
    if (!redisUrl) {
      throw new ConfigError('REDIS_URL is unset: NODE_ENV=production needs Redis (the embedded store lives in one process and is lost on restart)');
    }
    if (parsed.benchSkipAudit) {
      throw new ConfigError('MANDATE_BENCH_SKIP_AUDIT=1 turns off the audit trail for benchmarks: it is refused when NODE_ENV=production');
    }
    if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
      fail('MANDATE_ISSUER', issuer, 'an https: URL when NODE_ENV=production (http: is only allowed for localhost)');
    }
  }
  if (!redisUrl && parsed.workers > 1) {
    fail('MANDATE_WORKERS', String(parsed.workers), '1 without REDIS_URL (the embedded store cannot be shared between processes)');
  }
  return parsed;
}

import { parseArgs } from 'node:util';

import { parseEnv } from '../config/env.js';
import { loadPolicy } from '../config/load.js';
import { createLogger } from '../log.js';
import { openStore } from '../store/open.js';
import { openAuditKeys } from './audit-keys.js';
import { AuditTrail, type VerifyResult } from './trail.js';

export const USAGE = 'usage: npm run audit -- verify [--json]';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env?: NodeJS.ProcessEnv;
}

/**
 * `npm run audit -- verify`: verifies the trail in the Redis of `REDIS_URL` (with the policy file's
 * `redis` settings and the keys folder's audit keys), as `GET /admin/audit/verify` does. Exit 0
 * when it verifies, 1 when it does not, 2 when it cannot be checked.
 */
export async function runAuditCli(argv: readonly string[], io: CliIo): Promise<number> {
  let json = false;
  try {
    const { positionals, values } = parseArgs({ args: [...argv], allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1 || positionals[0] !== 'verify') throw new Error(positionals[0] === undefined ? 'missing command' : `unknown command "${positionals.join(' ')}"`);
    json = values.json === true;
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const env = io.env ?? process.env;
  try {
    // Not the server: the production start-up refusals (https issuer, secrets) do not apply.
    const parsed = parseEnv({ ...env, NODE_ENV: undefined });
    if (!parsed.redisUrl) {
      io.stderr.write('REDIS_URL is unset: the embedded store lives inside the server process; use GET /admin/audit/verify there\n');
      return 2;
    }
    const policy = await loadPolicy(parsed.configPath);
    const keys = await openAuditKeys(parsed.keysDir, { generateIfEmpty: false });
    const store = await openStore(parsed, policy);
    try {
      const result = await new AuditTrail({ store, keys, logger: createLogger('silent') }).verify();
      io.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : summary(result));
      return result.valid ? 0 : 1;
    } finally {
      await store.close();
    }
  } catch (err) {
    const e = err as { error_description?: string; message?: string };
    io.stderr.write(`error: ${e.error_description ?? e.message ?? String(err)}\n`);
    return 2;
  }
}

function summary(result: VerifyResult): string {
  const scope = `${result.checked} events in ${result.chains.length} chain(s), ${result.checkpoints} checkpoint(s)`;
  if (result.valid) return `audit trail valid: ${scope}\n`;
  const bad = result.first_bad!;
  return `audit trail NOT valid: ${scope}\nfirst bad: writer ${bad.writer}, position ${bad.position}${bad.event_id ? ` (event ${bad.event_id})` : ''}: ${bad.reason}\n`;
}

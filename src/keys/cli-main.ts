import { parseArgs } from 'node:util';
import { generateAuditKey } from '../audit/audit-keys.js';
import { errorMessage } from './key-file.js';
import { generateKey, isSigningAlg, listKeys, rotateKeys, SIGNING_ALGS } from './keystore.js';
import type { KeyInfo, SigningAlg } from './keystore.js';

/** 900 s longest token lifetime + 60 s clock skew: how long a retired key must stay published. */
export const DEFAULT_RETENTION_SECONDS = 960;

export const USAGE = `usage: npm run keys -- generate|rotate|list|audit-key [--alg ${SIGNING_ALGS.join('|')}] [--dir keys] [--retention seconds] [--bits 2048|3072]`;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env?: NodeJS.ProcessEnv;
}

interface CliCommand {
  command: 'generate' | 'rotate' | 'list' | 'audit-key';
  dir: string;
  alg: SigningAlg;
  retentionSeconds: number;
  modulusLength: 2048 | 3072;
}

/** A mistake in the command line: reported as one usage line, never as a stack trace. */
class UsageError extends Error {}

function parseFlags(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { alg: { type: 'string' }, dir: { type: 'string' }, retention: { type: 'string' }, bits: { type: 'string' } },
    });
  } catch (err) {
    throw new UsageError(errorMessage(err));
  }
}

function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): CliCommand {
  const { positionals, values } = parseFlags(argv);
  const [command, ...extra] = positionals;
  if (command !== 'generate' && command !== 'rotate' && command !== 'list' && command !== 'audit-key') {
    throw new UsageError(command === undefined ? 'missing command' : `unknown command "${command}"`);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const alg = values.alg ?? 'ES256';
  if (!isSigningAlg(alg)) throw new UsageError(`unknown algorithm "${alg}"`);
  const retentionSeconds = values.retention === undefined ? DEFAULT_RETENTION_SECONDS : Number(values.retention);
  if (!Number.isInteger(retentionSeconds) || retentionSeconds < 0) {
    throw new UsageError(`--retention must be a whole number of seconds, got "${values.retention}"`);
  }
  const bits = values.bits ?? '2048';
  if (bits !== '2048' && bits !== '3072') throw new UsageError(`--bits must be 2048 or 3072, got "${bits}"`);
  const dir = values.dir ?? (env.MANDATE_KEYS_DIR || 'keys');
  return { command, dir, alg, retentionSeconds, modulusLength: bits === '2048' ? 2048 : 3072 };
}

function formatTable(keys: KeyInfo[]): string {
  const rows = [['KID', 'ALG', 'STATE', 'CREATED', 'RETIRED'], ...keys.map((k) => [k.kid, k.alg, k.state, k.created_at, k.retired_at ?? '-'])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

async function execute(cmd: CliCommand, io: CliIo): Promise<void> {
  switch (cmd.command) {
    case 'generate': {
      const key = await generateKey(cmd.dir, cmd.alg, { modulusLength: cmd.modulusLength });
      io.stdout.write(`generated ${key.alg} key ${key.kid} in ${cmd.dir}\n`);
      // The audit trail's key lives beside the signing keys; a folder set up here has one.
      const audit = await generateAuditKey(cmd.dir, { onlyIfNone: true });
      if (audit) io.stdout.write(`generated audit key ${audit.kid} in ${cmd.dir}/audit\n`);
      return;
    }
    case 'audit-key': {
      // A new key seals from the next start on; the old ones stay to verify what they sealed.
      const audit = (await generateAuditKey(cmd.dir))!;
      io.stdout.write(`generated audit key ${audit.kid} in ${cmd.dir}/audit (restart the servers to seal with it; keep the old ones)\n`);
      return;
    }
    case 'rotate': {
      const result = await rotateKeys(cmd.dir, cmd.alg, { retentionSeconds: cmd.retentionSeconds, modulusLength: cmd.modulusLength });
      io.stdout.write(`new signing key ${result.created.kid} (${result.created.alg}) in ${cmd.dir}\n`);
      if (result.retired.length > 0) {
        io.stdout.write(`retired (still published for ${cmd.retentionSeconds} s): ${result.retired.join(', ')}\n`);
      }
      if (result.deleted.length > 0) io.stdout.write(`deleted expired: ${result.deleted.join(', ')}\n`);
      return;
    }
    case 'list': {
      const keys = await listKeys(cmd.dir, { retentionSeconds: cmd.retentionSeconds });
      io.stdout.write(keys.length === 0 ? `no keys in ${cmd.dir}\n` : `${formatTable(keys)}\n`);
      return;
    }
  }
}

/** Runs `npm run keys -- <argv>` and returns the exit code; cli.ts is the process wrapper. */
export async function runKeysCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    await execute(parseCommand(argv, io.env ?? process.env), io);
    return 0;
  } catch (err) {
    // The rest are KeyStoreErrors and file-system errors (EACCES, ENOSPC): their messages name the
    // file, which is what the operator needs; a stack trace would only bury it.
    io.stderr.write(err instanceof UsageError ? `${err.message}\n${USAGE}\n` : `error: ${errorMessage(err)}\n`);
    return 1;
  }
}

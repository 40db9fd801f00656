/** `npm run audit -- verify`: the process wrapper around runAuditCli. */
import { runAuditCli } from './cli-main.js';

// exitCode rather than process.exit() so that piped stdout is flushed before the process ends.
process.exitCode = await runAuditCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });

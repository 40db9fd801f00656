/** `npm run keys -- generate|rotate|list ...`: the process wrapper around runKeysCli. */
import { runKeysCli } from './cli-main.js';

// exitCode rather than process.exit() so that piped stdout is flushed before the process ends.
process.exitCode = await runKeysCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });

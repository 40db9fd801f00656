import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Builds dist/ (incremental) so that tests run the same `node dist/src/main.js` as `npm start`. */
export async function buildDist(): Promise<void> {
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: process.cwd() });
}

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the server with `env` (on top of a clean base) until it exits or `timeoutMs` passes. */
export function runServer(env: Record<string, string>, timeoutMs = 15_000): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = startServer(env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function startServer(env: Record<string, string>): ChildProcess {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info' };
  return spawn(process.execPath, ['dist/src/main.js'], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

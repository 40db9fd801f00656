import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

import { buildDist } from '../support/spawn.js';

const run = promisify(execFile);
const ROOT = resolve('.');

/**
 * The package as another project sees it: `node_modules/mandate` pointing at this checkout
 * (what `npm install /path/to/mandate` does), resolved through package.json `exports` by Node
 * and by TypeScript (NodeNext), never through relative paths into src/. The README shows the
 * same with a packed tarball; .ci/run does that for real.
 */
describe('package exports: mandate and mandate/resource-server', () => {
  let project: string;
  beforeAll(async () => {
    await buildDist();
    project = await mkdtemp(join(tmpdir(), 'mandate-consumer-'));
    await mkdir(join(project, 'node_modules'), { recursive: true });
    await symlink(ROOT, join(project, 'node_modules', 'mandate'), 'dir');
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  }, 120_000);
  afterAll(() => rm(project, { recursive: true, force: true }));

  it('both entry points load in Node and expose the documented functions', async () => {
    await writeFile(join(project, 'load.mjs'), `
      const server = await import('mandate');
      const kit = await import('mandate/resource-server');
      const pkg = (await import('mandate/package.json', { with: { type: 'json' } })).default;
      console.log(JSON.stringify({
        server: ['createApp', 'loadPolicy', 'MemoryStore', 'KeyStore', 'openAuditKeys'].map((n) => typeof server[n]),
        kit: ['createAgentTokenVerifier', 'serveProtectedResourceMetadata', 'protectedResourceMetadata', 'AgentTokenError'].map((n) => typeof kit[n]),
        name: pkg.name,
      }));
    `);
    const { stdout } = await run(process.execPath, ['load.mjs'], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({ server: Array(5).fill('function'), kit: Array(4).fill('function'), name: 'mandate' });
  });

  it('a deep import into dist is refused: only the exported paths are public', async () => {
    await writeFile(join(project, 'deep.mjs'), "await import('mandate/dist/src/resource-server/verifier.js');");
    await expect(run(process.execPath, ['deep.mjs'], { cwd: project })).rejects.toMatchObject({ stderr: expect.stringContaining('ERR_PACKAGE_PATH_NOT_EXPORTED') });
  });

  it('the type declarations type-check a consumer, and catch a misuse', async () => {
    const tsconfig = { compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2023', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] }, include: ['*.ts'] };
    await writeFile(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
    await writeFile(join(project, 'good.ts'), `
      import { createAgentTokenVerifier, type AgentToken, type AgentTokenErrorCode } from 'mandate/resource-server';
      import type { MandateApp } from 'mandate';
      const verifier = createAgentTokenVerifier({ issuer: 'http://localhost:3000', audience: 'https://api.travel.example' });
      export async function check(token: string): Promise<string> {
        const result = await verifier.verify(token, { scopes: ['trips:read'], acr: 'phr' });
        if (!result.valid) { const code: AgentTokenErrorCode = result.error.code; return code; }
        const t: AgentToken = result.token;
        return t.subject.id + t.agent + t.actorChain.map((a) => a.sub).join() + (t.approval?.id ?? '');
      }
      export type App = MandateApp['app'];
    `);
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await expect(run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project })).resolves.toBeDefined();

    await writeFile(join(project, 'bad.ts'), `
      import { createAgentTokenVerifier } from 'mandate/resource-server';
      createAgentTokenVerifier({ issuer: 'http://localhost:3000', audiences: ['x'] });
    `);
    const failed = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project }).then(() => undefined, (err: { stdout: string }) => err.stdout);
    expect(failed).toContain("bad.ts");
    expect(failed).toContain("'audiences' does not exist");
  }, 60_000);

  it('the published files hold the built entry points and their declarations, not keys or tests', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining([
      'package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/resource-server/index.js', 'dist/src/resource-server/index.d.ts', 'dist/src/main.js',
    ]));
    expect(files.filter((f) => f.startsWith('keys/') || f.startsWith('test/') || f.startsWith('src/'))).toEqual([]);
  }, 60_000);
});

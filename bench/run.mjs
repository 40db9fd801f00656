// npm run bench: token exchange throughput against a client_credentials baseline on the same
// server in the same run, on the Redis store, over loopback only; the cost of the audit trail
// (the same exchange on a second server started with the bench-only MANDATE_BENCH_SKIP_AUDIT=1,
// which stores no audit events); plus the raw crypto ceiling (one ES256 verify + one sign) on
// this machine. Prints figures and ratios, asserts nothing.
import { spawn } from 'node:child_process';
import { createSign, createVerify, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import autocannon from 'autocannon';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const dir = mkdtempSync(join(tmpdir(), 'mandate-bench-'));
const children = [];

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(url, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url}`);
}

function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

function cleanup() {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);

async function load(title, url, headers, body) {
  const result = await autocannon({ url, method: 'POST', headers, body, connections: CONNECTIONS, duration: DURATION });
  const ok = result['2xx'];
  if (result.non2xx > 0 || ok === 0) throw new Error(`${title}: ${result.non2xx} non-2xx answers of ${result.requests.total}`);
  return { title, rps: ok / DURATION, p50: result.latency.p50, p99: result.latency.p99 };
}

function cryptoCeiling(seconds = 3) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from('x'.repeat(400));
  const signature = createSign('SHA256').update(data).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
  let n = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    createVerify('SHA256').update(data).verify({ key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
    createSign('SHA256').update(data).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' });
    n += 1;
  }
  return n / seconds;
}

async function main() {
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const port = await freePort();
    start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]);
    redisUrl = `redis://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 300));
  }

  const idp = await generateKeyPair('ES256');
  const idpJwk = { ...(await exportJWK(idp.publicKey)), kid: 'bench-idp', alg: 'ES256' };
  const policy = {
    resources: [{ uri: 'https://api.bench.example', name: 'Bench API', scopes: ['read'] }],
    trusted_issuers: [{ issuer: 'https://idp.bench.example', jwks: { keys: [idpJwk] }, audiences: ['https://mandate.bench'], algorithms: ['ES256'] }],
    users: [{ id: 'alice', name: 'Alice', subjects: [{ iss: 'https://idp.bench.example', sub: 'u-alice' }] }],
    clients: [{ id: 'bench-app', auth: { method: 'client_secret_basic', secret_env: 'BENCH_APP_SECRET' }, scopes: ['read'], audiences: ['https://api.bench.example'] }],
    agents: [{ id: 'bench-agent', name: 'Bench agent', owner: 'alice', tier: 3, scopes: ['read'], audiences: ['https://api.bench.example'], default_audience: 'https://api.bench.example', auth: { method: 'client_secret_basic', secret_env: 'BENCH_AGENT_SECRET' } }],
    delegations: [{ user: 'alice', agent: 'bench-agent', scopes: ['read'], audiences: ['https://api.bench.example'] }],
  };
  writeFileSync(join(dir, 'policy.json'), JSON.stringify(policy));
  // The unaudited server gets its own key prefix, so the two never share registry records.
  writeFileSync(join(dir, 'policy-unaudited.json'), JSON.stringify({ ...policy, redis: { key_prefix: 'bench-unaudited:' } }));
  const serve = async (policyFile, extraEnv = {}) => {
    const port = await freePort();
    start(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), 'dist/src/main.js'], {
      PORT: String(port), REDIS_URL: redisUrl, MANDATE_CONFIG: join(dir, policyFile), MANDATE_KEYS_DIR: join(dir, 'keys'), LOG_LEVEL: 'silent', ...extraEnv,
    });
    await waitFor(`http://127.0.0.1:${port}/readyz`);
    return `http://127.0.0.1:${port}`;
  };
  const base = await serve('policy.json');
  const unaudited = process.env.BENCH_ONLY ? undefined : await serve('policy-unaudited.json', { MANDATE_BENCH_SKIP_AUDIT: '1' });

  const now = Math.floor(Date.now() / 1000);
  const subjectToken = await new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'ES256', kid: 'bench-idp', typ: 'at+jwt' })
    .setIssuer('https://idp.bench.example').setSubject('u-alice').setAudience('https://mandate.bench').setIssuedAt(now).setExpirationTime(now + 3600).sign(idp.privateKey);
  const basic = (id) => `Basic ${Buffer.from(`${id}:${id}-dev-secret`).toString('base64')}`;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const ccBody = 'grant_type=client_credentials&scope=read';
  const exBody = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', scope: 'read',
  }).toString();

  // Warm-up, then measure baseline, exchange and unaudited exchange alternately twice to even out drift.
  await load('warm-up', `${base}/token`, { ...form, authorization: basic('bench-agent') }, exBody).catch(() => undefined);
  if (unaudited) await load('warm-up', `${unaudited}/token`, { ...form, authorization: basic('bench-agent') }, exBody).catch(() => undefined);
  const runs = [];
  for (let round = 0; round < 2; round += 1) {
    if (process.env.BENCH_ONLY !== 'exchange') runs.push(await load('client_credentials', `${base}/token`, { ...form, authorization: basic('bench-app') }, ccBody));
    if (process.env.BENCH_ONLY !== 'client_credentials') runs.push(await load('token exchange', `${base}/token`, { ...form, authorization: basic('bench-agent') }, exBody));
    if (unaudited) runs.push(await load('token exchange, audit not stored', `${unaudited}/token`, { ...form, authorization: basic('bench-agent') }, exBody));
    if (unaudited) runs.push(await load('client_credentials, audit not stored', `${unaudited}/token`, { ...form, authorization: basic('bench-app') }, ccBody));
  }
  const avg = (title, key) => { const r = runs.filter((x) => x.title === title); return r.reduce((s, x) => s + x[key], 0) / r.length; };
  const cc = { rps: avg('client_credentials', 'rps'), p50: avg('client_credentials', 'p50'), p99: avg('client_credentials', 'p99') };
  const ex = { rps: avg('token exchange', 'rps'), p50: avg('token exchange', 'p50'), p99: avg('token exchange', 'p99') };
  const figures = (title) => ({ rps: avg(title, 'rps'), p50: avg(title, 'p50'), p99: avg(title, 'p99') });
  const bare = unaudited ? figures('token exchange, audit not stored') : undefined;
  const bareCc = unaudited ? figures('client_credentials, audit not stored') : undefined;
  const ceiling = cryptoCeiling();

  console.log(`Mandate bench: Redis store, ${CONNECTIONS} connections, ${DURATION} s per run, 2 rounds, loopback only`);
  console.log(`client_credentials (baseline): ${cc.rps.toFixed(0)} req/s  p50 ${cc.p50.toFixed(1)} ms  p99 ${cc.p99.toFixed(1)} ms`);
  console.log(`token exchange:                ${ex.rps.toFixed(0)} req/s  p50 ${ex.p50.toFixed(1)} ms  p99 ${ex.p99.toFixed(1)} ms`);
  if (bare) console.log(`token exchange, audit not stored (bench-only switch): ${bare.rps.toFixed(0)} req/s  p50 ${bare.p50.toFixed(1)} ms  p99 ${bare.p99.toFixed(1)} ms`);
  if (bareCc) console.log(`client_credentials, audit not stored:               ${bareCc.rps.toFixed(0)} req/s  p50 ${bareCc.p50.toFixed(1)} ms  p99 ${bareCc.p99.toFixed(1)} ms`);
  console.log(`crypto ceiling (1 ES256 verify + 1 sign, node:crypto, one core): ${ceiling.toFixed(0)} ops/s`);
  console.log(`ratio exchange / client_credentials: ${(ex.rps / cc.rps).toFixed(2)} (goal >= 0.80)`);
  console.log(`ratio exchange / crypto ceiling:     ${(ex.rps / ceiling).toFixed(2)}`);
  if (bare) console.log(`ratio exchange with audit / without:  ${(ex.rps / bare.rps).toFixed(2)} (the audit trail's cost)`);
  if (bareCc) console.log(`ratio client_credentials with audit / without: ${(cc.rps / bareCc.rps).toFixed(2)}`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

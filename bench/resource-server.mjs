// npm run bench:rs: what the resource-server kit (mandate/resource-server) costs per request,
// against plain jose.jwtVerify with a local key set measured in the same run. One verification
// at a time (one core; jose's WebCrypto work runs on the thread pool, but the loop waits for each),
// each case for BENCH_SECONDS of measured time per round, the cases taking turns round after round
// (the order rotates each round) so machine drift hits them all alike; the median round counts.
// The issuer is a small in-process node:http server on 127.0.0.1: the kit needs only the issuer's
// metadata (RFC 8414) and JWKS, so starting the whole of Mandate would measure nothing more.
// Prints figures and ratios, asserts nothing about time; loopback only.
import { randomUUID, createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';

import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';

import { createAgentTokenVerifier, DEFAULT_ALGORITHMS } from '../dist/src/resource-server/index.js';

const DURATION = Number(process.env.BENCH_SECONDS ?? 3);
const ROUNDS = Math.max(3, Number(process.env.BENCH_ROUNDS ?? 3));
/** Distinct tokens per algorithm; all of them (and the DPoP-bound ones) must fit the kit's default cache of 10000. */
const TOKENS = Number(process.env.BENCH_TOKENS ?? 5000);
const DPOP_TOKENS = 500;
/** Verifications between two clock readings; DPoP proofs for a batch are signed before its clock starts. */
const BATCH = 200;
const TOKEN_LIFETIME = 600;
const AUDIENCE = 'https://api.bench.example';
const URL_CALLED = `${AUDIENCE}/trips/42`;
const SCOPES = ['trips:read'];

/** The kit's only I/O goes through this, which refuses anything but loopback. */
function loopbackFetch(url, init) {
  if (new URL(url).hostname !== '127.0.0.1') return Promise.reject(new Error(`bench: refusing to fetch ${url} (loopback only)`));
  return fetch(url, init);
}

/** A stand-in for Mandate's public face: metadata naming the JWKS, and the JWKS. */
async function startIssuer(jwks) {
  const served = { metadata: 0, jwks: 0 };
  const server = createServer((req, res) => {
    const json = (body) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (req.url === '/.well-known/oauth-authorization-server') {
      served.metadata += 1;
      json({ issuer, jwks_uri: `${issuer}/jwks` });
    } else if (req.url === '/jwks') {
      served.jwks += 1;
      json(jwks);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return { issuer, server, served };
}

async function signingKey(alg, kid) {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Agent tokens as Mandate mints them (SPEC section 4), each with its own subject and jti. */
async function agentTokens(issuer, key, count, extra = () => ({})) {
  const now = Math.floor(Date.now() / 1000);
  const sign = (i) => new SignJWT({
    client_id: 'bench-agent', scope: 'trips:read trips:write mail:read', act: { sub: 'bench-agent' }, ...extra(i),
  }).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(issuer).setAudience(AUDIENCE).setSubject(`user-${i}`).setJti(randomUUID())
    .setIssuedAt(now).setExpirationTime(now + TOKEN_LIFETIME).sign(key.privateKey);
  const tokens = [];
  for (let i = 0; i < count; i += 100) tokens.push(...await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_, j) => sign(i + j))));
  return tokens;
}

/** Measured time only: preparation (signing DPoP proofs) happens between clock readings. */
async function measure(testCase) {
  let count = 0;
  let elapsed = 0;
  while (elapsed < DURATION * 1000) {
    const batch = testCase.prepare ? await testCase.prepare(BATCH) : undefined;
    const start = performance.now();
    for (let i = 0; i < BATCH; i += 1) await testCase.run(i, batch);
    elapsed += performance.now() - start;
    count += BATCH;
  }
  return count / (elapsed / 1000);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Walks a list endlessly, so every call gets the next token (distinct until the list wraps). */
function cycle(list) {
  let at = 0;
  return () => list[at++ % list.length];
}

const fail = (name, what) => { throw new Error(`${name}: ${what}`); };

async function main() {
  if (!(DURATION > 0)) throw new Error('BENCH_SECONDS must be a positive number');
  if (!(TOKENS > 0 && TOKENS + DPOP_TOKENS <= 10_000)) throw new Error(`BENCH_TOKENS must be between 1 and ${10_000 - DPOP_TOKENS} (the kit's default cache holds 10000 tokens)`);

  const es256 = await signingKey('ES256', 'bench-es256');
  const eddsa = await signingKey('EdDSA', 'bench-eddsa');
  const jwks = { keys: [es256.jwk, eddsa.jwk] };
  const { issuer, server, served } = await startIssuer(jwks);

  const dpopKey = await generateKeyPair('ES256');
  const dpopJwk = await exportJWK(dpopKey.publicKey);
  const jkt = await calculateJwkThumbprint(dpopJwk, 'sha256');
  const [esTokens, edTokens, boundTokens] = [
    await agentTokens(issuer, es256, TOKENS),
    await agentTokens(issuer, eddsa, TOKENS),
    await agentTokens(issuer, es256, DPOP_TOKENS, () => ({ cnf: { jkt } })),
  ];

  const localKeySet = createLocalJWKSet(jwks);
  const joseOptions = { issuer, audience: AUDIENCE, typ: 'at+jwt', algorithms: DEFAULT_ALGORITHMS };
  // One verifier without a token cache (every call checks the signature), one with the defaults.
  const cold = createAgentTokenVerifier({ issuer, audience: AUDIENCE, cacheSize: 0, fetch: loopbackFetch });
  const kit = createAgentTokenVerifier({ issuer, audience: AUDIENCE, fetch: loopbackFetch });

  const joseCase = (name, tokens) => {
    const next = cycle(tokens);
    return { name, run: async () => { await jwtVerify(next(), localKeySet, joseOptions); } };
  };
  const verifyCase = (name, verifier, tokens, baseline) => {
    const next = cycle(tokens);
    return {
      name, baseline,
      run: async () => {
        const result = await verifier.verify(next(), { scopes: SCOPES });
        if (!result.valid) fail(name, `refused a good token: ${result.error.code}`);
      },
    };
  };
  const bearer = (tokens) => tokens.map((token) => ({ method: 'GET', url: URL_CALLED, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }));
  const nextRequest = cycle(bearer(esTokens));
  const refusedRequest = cycle(bearer(esTokens));
  const nextBound = cycle(boundTokens);
  const ath = new Map(boundTokens.map((token) => [token, createHash('sha256').update(token).digest('base64url')]));

  const all = [
    joseCase('jose jwtVerify, ES256 (baseline)', esTokens),
    verifyCase('kit verify, no token cache, ES256', cold, esTokens, 'jose jwtVerify, ES256 (baseline)'),
    verifyCase('kit verify, cached, ES256', kit, esTokens, 'jose jwtVerify, ES256 (baseline)'),
    {
      name: 'kit authorize, cached, Bearer, ES256', baseline: 'jose jwtVerify, ES256 (baseline)',
      run: async () => {
        const answer = await kit.authorize(nextRequest(), { scopes: SCOPES });
        if (!answer.ok) fail('authorize', `refused a good request: ${answer.error.code}`);
      },
    },
    {
      // The refusal path: header parsing, cached token, then the 403 and its WWW-Authenticate challenge.
      name: 'kit authorize, cached, 403 insufficient_scope', baseline: 'jose jwtVerify, ES256 (baseline)',
      run: async () => {
        const answer = await kit.authorize(refusedRequest(), { scopes: ['trips:admin'] });
        if (answer.ok || answer.status !== 403 || !answer.headers['www-authenticate']?.includes('error="insufficient_scope"')) {
          fail('authorize refusal', `expected 403 insufficient_scope, got ${answer.ok ? 'ok' : `${answer.status} ${answer.headers['www-authenticate']}`}`);
        }
      },
    },
    {
      // A proof is single-use (jti), so its signature is checked on every request; the token is cached.
      name: 'kit authorize, cached, DPoP + fresh proof, ES256', baseline: 'jose jwtVerify, ES256 (baseline)',
      prepare: async (count) => Promise.all(Array.from({ length: count }, async () => {
        const token = nextBound();
        const proof = await new SignJWT({ htm: 'GET', htu: URL_CALLED, ath: ath.get(token), jti: randomUUID() })
          .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk }).setIssuedAt().sign(dpopKey.privateKey);
        return { method: 'GET', url: URL_CALLED, headers: { authorization: `DPoP ${token}`, dpop: proof } };
      })),
      run: async (i, requests) => {
        const answer = await kit.authorize(requests[i], { scopes: SCOPES });
        if (!answer.ok) fail('DPoP', `refused a good request: ${answer.error.code}`);
      },
    },
    joseCase('jose jwtVerify, EdDSA (baseline)', edTokens),
    verifyCase('kit verify, no token cache, EdDSA', cold, edTokens, 'jose jwtVerify, EdDSA (baseline)'),
  ];
  // Tokens live 10 minutes, as Mandate's do; the run (DPoP proofs are signed off the clock) must end before them.
  const expected = Math.round(all.length * ROUNDS * DURATION * 1.5 + 30);
  if (expected > TOKEN_LIFETIME - 60) throw new Error(`about ${expected} s of measuring would outlive the tokens (${TOKEN_LIFETIME} s): lower BENCH_SECONDS or BENCH_ROUNDS`);

  // Warm-up, unmeasured: discovery and JWKS loaded, the JIT warmed, every token in the kit's cache.
  // Only the ES256 tokens go through the cached verifier: they and the DPoP-bound ones fill it to
  // 5500 of 10000, and walking more tokens than an LRU holds would miss every time.
  for (const token of [...esTokens, ...edTokens]) {
    await jwtVerify(token, localKeySet, joseOptions);
    if (!(await cold.verify(token, { scopes: SCOPES })).valid) fail('warm-up', 'a good token was refused');
  }
  for (const token of esTokens) {
    if (!(await kit.verify(token, { scopes: SCOPES })).valid) fail('warm-up', 'a good token was refused');
  }
  for (const testCase of all) {
    const batch = testCase.prepare ? await testCase.prepare(BATCH) : undefined;
    for (let i = 0; i < BATCH; i += 1) await testCase.run(i, batch);
  }
  const requestsAfterWarmUp = { ...served };

  const rates = new Map(all.map((c) => [c.name, []]));
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let k = 0; k < all.length; k += 1) {
      const testCase = all[(round + k) % all.length];
      rates.get(testCase.name).push(await measure(testCase));
    }
  }
  server.close();

  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  const joseVersion = createRequire(import.meta.url)('jose/package.json').version;
  console.log(`Resource-server kit bench: ${DURATION} s measured per case per round, ${ROUNDS} rounds (order rotating), median shown; one verification at a time; loopback only`);
  console.log(`node ${process.version}, jose ${joseVersion}, ${availableParallelism()} × ${cpu}, load average at the end ${load}`);
  console.log(`${TOKENS} distinct tokens per algorithm, ${DPOP_TOKENS} DPoP-bound; issuer answered ${served.metadata} metadata and ${served.jwks} JWKS requests, ${served.metadata + served.jwks - requestsAfterWarmUp.metadata - requestsAfterWarmUp.jwks} of them while measuring`);
  const width = Math.max(...all.map((c) => c.name.length));
  console.log(`${'case'.padEnd(width)}  ${'verif./s'.padStart(9)}  ${'rounds min-max'.padStart(15)}  ratio to jose (same alg)`);
  for (const testCase of all) {
    const values = rates.get(testCase.name);
    const rate = median(values);
    const base = testCase.baseline ? median(rates.get(testCase.baseline)) : rate;
    const spread = `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;
    console.log(`${testCase.name.padEnd(width)}  ${rate.toFixed(0).padStart(9)}  ${spread.padStart(15)}  ${(rate / base).toFixed(2)}`);
  }
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });

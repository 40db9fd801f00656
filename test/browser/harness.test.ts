import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Browser, BrowserContext, Page } from 'playwright-core';

import { addVirtualAuthenticator, launchBrowser, setUserVerified } from './support/browser.js';

/**
 * Smoke test of the browser harness itself, against a tiny page served here (no Mandate code):
 * headless Chromium loads a page with a strict CSP from http://localhost:<port> (server on
 * 127.0.0.1), its external script registers a passkey on a CDP virtual authenticator and signs in
 * with it, and the server side checks what the browser sent.
 */

const CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>harness</title><script src="/app.js" defer></script></head>
<body>
<button type="button" data-action="register">Register a passkey</button>
<button type="button" data-action="sign-in-required">Sign in (user verification required)</button>
<button type="button" data-action="sign-in-preferred">Sign in (user verification preferred)</button>
<button type="button" data-action="sign-in-discouraged">Sign in (user verification discouraged)</button>
<p data-status>idle</p>
</body>
</html>`;

// Plain browser JavaScript (no inline script: the CSP allows only 'self' scripts). Each step asks
// the server for a challenge and posts the credential back, base64url-encoded.
const APP_JS = `
const status = document.querySelector('[data-status]');
const b64u = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
  .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const fromB64u = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const challenge = async () => fromB64u((await (await fetch('/challenge', { method: 'POST' })).json()).challenge);
const report = async (body) => {
  const response = await fetch('/result', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!response.ok) throw new Error('server refused the result: ' + response.status);
};

async function signIn(userVerification) {
  const assertion = await navigator.credentials.get({ publicKey: {
    challenge: await challenge(), rpId: 'localhost', userVerification, timeout: 5000,
  } });
  await report({
    step: 'get', id: assertion.id,
    clientDataJSON: b64u(assertion.response.clientDataJSON),
    authenticatorData: b64u(assertion.response.authenticatorData),
    signature: b64u(assertion.response.signature),
    userHandle: assertion.response.userHandle && b64u(assertion.response.userHandle),
  });
  status.textContent = 'asserted';
}

async function register() {
  const credential = await navigator.credentials.create({ publicKey: {
    rp: { id: 'localhost', name: 't' },
    user: { id: crypto.getRandomValues(new Uint8Array(16)), name: 'alice', displayName: 'Alice' },
    challenge: await challenge(),
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
  } });
  await report({
    step: 'create', id: credential.id,
    clientDataJSON: b64u(credential.response.clientDataJSON),
    authenticatorData: b64u(credential.response.getAuthenticatorData()),
    publicKey: b64u(credential.response.getPublicKey()),
    publicKeyAlgorithm: credential.response.getPublicKeyAlgorithm(),
  });
  status.textContent = 'registered';
  await signIn('required');
}

const run = (action) => async () => {
  status.textContent = 'working';
  try { await action(); } catch (error) { status.textContent = 'error: ' + error.name + ': ' + error.message; }
};
document.querySelector('[data-action=register]').addEventListener('click', run(register));
for (const requirement of ['required', 'preferred', 'discouraged']) {
  document.querySelector('[data-action=sign-in-' + requirement + ']').addEventListener('click', run(() => signIn(requirement)));
}
`;

interface Result {
  step: 'create' | 'get';
  id: string;
  clientDataJSON: string;
  authenticatorData: string;
  publicKey?: string;
  publicKeyAlgorithm?: number;
  signature?: string;
  userHandle?: string | null;
}

interface TestSite {
  origin: string;
  challenges: string[];
  results: Result[];
  close(): Promise<void>;
}

async function startSite(): Promise<TestSite> {
  const challenges: string[] = [];
  const results: Result[] = [];
  const send = (res: ServerResponse, status: number, type: string, body: string): void => {
    res.writeHead(status, { 'content-type': type, 'content-security-policy': CSP, 'cache-control': 'no-store' });
    res.end(body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/') return send(res, 200, 'text/html; charset=utf-8', PAGE);
    if (req.method === 'GET' && path === '/app.js') return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
    if (req.method === 'POST' && path === '/challenge') {
      const challenge = randomBytes(32).toString('base64url');
      challenges.push(challenge);
      return send(res, 200, 'application/json', JSON.stringify({ challenge }));
    }
    if (req.method === 'POST' && path === '/result') {
      let body = '';
      for await (const chunk of req) body += String(chunk);
      results.push(JSON.parse(body) as Result);
      return send(res, 204, 'text/plain', '');
    }
    send(res, 404, 'text/plain', 'not found');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, 'text/plain', 'error'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    // localhost, not 127.0.0.1: a WebAuthn RP ID must be a domain (see support/browser.ts).
    origin: `http://localhost:${port}`,
    challenges,
    results,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;
const bytes = (b64u: string): Buffer => Buffer.from(b64u, 'base64url');
const clientData = (result: Result): { type: string; challenge: string; origin: string } =>
  JSON.parse(bytes(result.clientDataJSON).toString('utf8')) as { type: string; challenge: string; origin: string };
/** authenticatorData: rpIdHash (32 bytes), flags (1 byte, index 32), signCount (4 bytes), ... */
const flagsOf = (result: Result): number => bytes(result.authenticatorData)[32]!;
const rpIdHashOf = (result: Result): Buffer => bytes(result.authenticatorData).subarray(0, 32);
const LOCALHOST_HASH = createHash('sha256').update('localhost').digest();

/** Clicks `[data-action=<action>]` and returns the final status: 'asserted' or 'error: ...'. */
async function statusAfter(page: Page, action: string): Promise<string> {
  const status = page.locator('[data-status]');
  await status.evaluate((element) => {
    element.textContent = 'idle';
  });
  await page.click(`[data-action=${action}]`);
  // Locators rather than in-page functions: tsconfig has no DOM lib, so `document` does not type-check.
  await status.filter({ hasText: /^(asserted|error: )/ }).waitFor({ timeout: 20_000 });
  return (await status.textContent()) ?? '';
}

describe('browser harness: headless Chromium, virtual authenticator, CSP page on localhost', () => {
  let browser: Browser;
  let site: TestSite;
  let context: BrowserContext | undefined;
  const problems: string[] = [];

  beforeAll(async () => {
    site = await startSite();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await site?.close();
  });

  async function openPage(): Promise<Page> {
    await context?.close();
    context = await browser.newContext();
    const page = await context.newPage();
    // Any CSP violation or script error would show up here.
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    site.results.length = 0;
    site.challenges.length = 0;
    problems.length = 0;
    return page;
  }

  it('registers a passkey and signs in with user verification, under a strict CSP', async () => {
    const page = await openPage();
    const authenticator = await addVirtualAuthenticator(page);
    const response = await page.goto(`${site.origin}/`);
    expect(response?.headers()['content-security-policy']).toBe(CSP);
    expect(await page.evaluate('window.isSecureContext')).toBe(true);

    expect(await statusAfter(page, 'register')).toBe('asserted');
    expect(problems).toEqual([]);

    // The virtual authenticator holds exactly the new credential, for RP ID localhost.
    const held = await authenticator.credentials();
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ rpId: 'localhost', isResidentCredential: true });

    const [created, asserted] = site.results;
    expect(site.results.map((r) => r.step)).toEqual(['create', 'get']);
    expect(Buffer.from(held[0]!.credentialId, 'base64').toString('base64url')).toBe(created!.id);
    expect(asserted!.id).toBe(created!.id);

    // Registration: bound to our challenge and origin, RP ID localhost, user present and verified.
    expect(clientData(created!)).toMatchObject({ type: 'webauthn.create', challenge: site.challenges[0], origin: site.origin });
    expect(rpIdHashOf(created!).equals(LOCALHOST_HASH)).toBe(true);
    expect(flagsOf(created!) & (FLAG_UP | FLAG_UV | FLAG_AT)).toBe(FLAG_UP | FLAG_UV | FLAG_AT);
    expect(created!.publicKeyAlgorithm).toBe(-7);

    // Assertion: same checks, the UV flag (byte 32, bit 0x04) set, and a valid ES256 signature over
    // authenticatorData || SHA-256(clientDataJSON) with the registered public key.
    expect(clientData(asserted!)).toMatchObject({ type: 'webauthn.get', challenge: site.challenges[1], origin: site.origin });
    expect(rpIdHashOf(asserted!).equals(LOCALHOST_HASH)).toBe(true);
    expect(flagsOf(asserted!) & FLAG_UV).toBe(FLAG_UV);
    expect(flagsOf(asserted!) & FLAG_UP).toBe(FLAG_UP);
    const publicKey = createPublicKey({ key: bytes(created!.publicKey!), format: 'der', type: 'spki' });
    const signed = Buffer.concat([bytes(asserted!.authenticatorData), createHash('sha256').update(bytes(asserted!.clientDataJSON)).digest()]);
    expect(verify('sha256', signed, publicKey, bytes(asserted!.signature!))).toBe(true);
    expect(asserted!.userHandle).toBe(Buffer.from(held[0]!.userHandle!, 'base64').toString('base64url'));
  });

  it('with user verification failing: "required" and "preferred" are refused, "discouraged" signs in with UV=0', async () => {
    const page = await openPage();
    const authenticator = await addVirtualAuthenticator(page);
    await page.goto(`${site.origin}/`);
    expect(await statusAfter(page, 'register')).toBe('asserted');
    site.results.length = 0;

    await setUserVerified(authenticator.cdp, authenticator.authenticatorId, false);

    // Observed with Chromium 156: the authenticator supports UV, so Chromium asks for it whenever
    // the RP does not discourage it; UV fails and get() rejects at once with the generic
    // NotAllowedError (no hang until the 5 s WebAuthn timeout), and nothing reaches the server.
    for (const requirement of ['required', 'preferred']) {
      const started = Date.now();
      const status = await statusAfter(page, `sign-in-${requirement}`);
      expect({ requirement, status }).toEqual({ requirement, status: expect.stringMatching(/^error: NotAllowedError: /) });
      expect(Date.now() - started).toBeLessThan(4000);
    }
    expect(site.results).toEqual([]);

    // With "discouraged" Chromium does not ask for UV: the assertion succeeds with UP=1, UV=0. A
    // relying party that needs UV must check the flag itself; the browser does not refuse for it.
    expect(await statusAfter(page, 'sign-in-discouraged')).toBe('asserted');
    expect(site.results).toHaveLength(1);
    expect(flagsOf(site.results[0]!) & (FLAG_UP | FLAG_UV)).toBe(FLAG_UP);
    expect(problems).toEqual([]);
    // The failed attempts leave the credential in place.
    expect(await authenticator.credentials()).toHaveLength(1);
  });
});

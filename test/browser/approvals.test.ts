import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { startTestApp, type TestApp } from '../support/app.js';
import { exchange, exchangePolicy, makeIdp, TRAVEL, type TestIdp } from '../support/exchange.js';
import { addVirtualAuthenticator, launchBrowser, screenshot, setUserVerified, type VirtualAuthenticator } from './support/browser.js';
import {
  adminGet, adminPost, approvalIdOf, backchannel, cibaPoll, clickAndWait, expireApproval, fieldText, statusOf, watchProblems,
} from './support/mandate.js';

/**
 * Mandate's pages in a real browser (SPEC section 6): headless Chromium with a CDP virtual
 * platform authenticator (ctap2, internal, resident keys, user verification) enrolls Alice's
 * passkey through /enroll/{token}, then decides approval requests on /approvals/{id} while the
 * agent polls the token endpoint from the test process.
 *
 * One page and one authenticator for the whole file: the passkey enrolled by the first test is
 * the one every later test approves or denies with, so the tests run in order.
 *
 * Redis store only: the pages run the same code on both stores, which the integration tests
 * cover; a browser per store would double the slowest suite for no new path.
 */

/** The task shown in the README screenshot: a booking with an amount. */
const TRIP = [{ type: 'trip_booking', destination: 'Lisbon', dates: '2026-12-01 to 2026-12-04', price: { amount: '420.00', currency: 'EUR' } }];

/** Chromium logs every HTTP error answer to a page's request as a console error, with the URL. */
const httpError = (status: string, path: RegExp): RegExp =>
  new RegExp(`^console: Failed to load resource: the server responded with a status of ${status.replace(/[()]/g, '\\$&')} \\(http://localhost:\\d+${path.source}\\)$`);
/** The pages declare no icon, so Chromium asks for /favicon.ico (404): not a problem of the page. */
const FAVICON = httpError('404 (Not Found)', /\/favicon\.ico/);
/** A refused decision: the server's 409 answer to the page's options or decision request. */
const REFUSED_409 = httpError('409 (Conflict)', /\/approvals\/apr_[\w-]+\/(options|decision)/);

describe('approval and enrollment pages in headless Chromium (redis store)', () => {
  let t: TestApp;
  let idp: TestIdp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let authenticator: VirtualAuthenticator;
  let problems: string[];

  beforeAll(async () => {
    let issuer = '';
    idp = await makeIdp(() => issuer);
    t = await startTestApp({
      store: 'redis',
      issuerHost: 'localhost',
      policy: (iss: string) => {
        const policy = exchangePolicy(idp, iss);
        // A display name that differs from the id (both are shown) and another owner, for a realistic screenshot.
        const agents = policy.agents.map((a) => (a.id === 'tier2-agent' ? { ...a, name: 'Trip planner', owner: 'bob' } : a));
        return { ...policy, agents, webauthn: { rp_id: 'localhost', rp_name: 'Mandate', origins: [iss] } };
      },
    });
    issuer = t.issuer;
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    page = await context.newPage();
    problems = await watchProblems(page);
    authenticator = await addVirtualAuthenticator(page);
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await t?.close();
  });

  /** Problems seen since the last check, minus the expected ones; the list starts empty again. */
  function takeProblems(allowed: RegExp[] = []): string[] {
    const seen = problems.splice(0, problems.length);
    return seen.filter((p) => ![FAVICON, ...allowed].some((a) => a.test(p)));
  }

  const approvalOf = async (id: string): Promise<Record<string, unknown>> => (await adminGet(t, `/admin/approvals/${id}`).expect(200)).body as Record<string, unknown>;

  /** A tier-1 exchange: always a human approval; returns the pending answer. */
  async function tier1Pending(): Promise<{ id: string; authReqId: string; uri: string }> {
    const res = await exchange(t, 'tier1-agent', { subject_token: await idp.token(), resource: TRAVEL, scope: 'trips:read' }).expect(400);
    expect(res.body).toMatchObject({ error: 'authorization_pending', auth_req_id: expect.stringMatching(/^apr_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/),
      expires_in: 600, interval: 1, approval_uri: expect.stringMatching(new RegExp(`^${t.issuer}/approvals/apr_`)),
    });
    const uri = res.body.approval_uri as string;
    return { id: approvalIdOf(uri), authReqId: res.body.auth_req_id as string, uri };
  }

  async function verified(accessToken: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(accessToken, createRemoteJWKSet(new URL(`${t.issuer}/jwks`)), {
      issuer: t.issuer, audience: TRAVEL, typ: 'at+jwt', algorithms: ['ES256'],
    });
    return payload;
  }

  it('enrolls a passkey through /enroll/{token}: the authenticator holds it and the admin API lists it', async () => {
    const link = await adminPost(t, '/admin/users/alice/enrollments', {}).expect(201);
    const url = link.body.url as string;
    expect(url).toMatch(new RegExp(`^${t.issuer}/enroll/[^/]+$`));

    const response = await page.goto(url);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(await page.evaluate('window.isSecureContext')).toBe(true);
    expect(await statusOf(page)).toBe('ready');

    expect(await clickAndWait(page, 'register')).toBe('registered');
    expect(await page.locator('[data-action=register]').isHidden()).toBe(true);

    const held = await authenticator.credentials();
    expect(held).toHaveLength(1);
    expect(held[0]).toMatchObject({ rpId: 'localhost', isResidentCredential: true });
    const credentialId = Buffer.from(held[0]!.credentialId, 'base64').toString('base64url');

    const { body } = await adminGet(t, '/admin/users/alice/passkeys').expect(200);
    expect(body).toEqual({ items: [expect.objectContaining({ id: credentialId, user_id: 'alice' })], next_cursor: null });

    // The link is single-use: loading it again shows the error page.
    const again = await page.goto(url);
    expect(again?.status()).toBe(404);
    expect(await statusOf(page)).toMatch(/^error: this enrollment link is not valid/);
    expect(takeProblems([httpError('404 (Not Found)', /\/enroll\/[\w-]+/)])).toEqual([]);
  });

  it('a tier-1 exchange waits for Alice: the page shows the request, she approves, the agent\'s poll gets the token', async () => {
    const { id, authReqId, uri } = await tier1Pending();
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((res) => expect(res.body.error).toBe('authorization_pending'));

    const response = await page.goto(uri);
    expect(response?.status()).toBe(200);
    expect(await page.locator('main').getAttribute('data-approval-id')).toBe(id);
    expect(await statusOf(page)).toBe('pending');
    expect(await fieldText(page, 'agent')).toBe('tier1-agent tier1-agent');
    expect(await fieldText(page, 'owner')).toBe('alice');
    expect(await fieldText(page, 'tier')).toBe('1 (highest risk)');
    expect(await fieldText(page, 'user')).toBe('Alice alice');
    expect(await fieldText(page, 'scopes')).toBe('trips:read');
    expect(await fieldText(page, 'audience')).toBe(`Travel API ${TRAVEL}`);
    // approval_ttl_seconds is 600: the countdown starts at about ten minutes.
    expect(await fieldText(page, 'time-left')).toMatch(/^(10 min 0 s|9 min \d{1,2} s)$/);
    expect(await fieldText(page, 'task')).toBe('No task details were given.');

    expect(await clickAndWait(page, 'approve')).toBe('approved');
    expect(await page.locator('[data-action=approve]').isHidden()).toBe(true);
    expect(await approvalOf(id)).toMatchObject({ status: 'approved', approver: 'alice', reason: 'tier_always' });

    const [passkey] = (await adminGet(t, '/admin/users/alice/passkeys').expect(200)).body.items as { backup_eligible: boolean }[];
    const token = await cibaPoll(t, 'tier1-agent', authReqId).expect(200);
    expect(token.body).toMatchObject({ token_type: 'Bearer', scope: 'trips:read', access_token: expect.any(String) });
    const claims = await verified(token.body.access_token as string);
    expect(claims).toMatchObject({
      sub: 'alice', client_id: 'tier1-agent', act: { sub: 'tier1-agent' }, scope: 'trips:read', approval_id: id,
      acr: 'phr', amr: [passkey!.backup_eligible ? 'swk' : 'hwk', 'user', 'mfa'], auth_time: expect.any(Number),
    });
    expect(Math.abs((claims.auth_time as number) - Math.floor(Date.now() / 1000))).toBeLessThan(120);

    // Once: the second redemption is refused.
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((res) => expect(res.body.error).toBe('invalid_grant'));
    expect(takeProblems()).toEqual([]);
  });

  it('a CIBA booking with an amount and a binding message: screenshot for the README, approve, token with the task', async () => {
    const res = await backchannel(t, 'tier2-agent', {
      login_hint: 'alice', scope: 'trips:book', resource: TRAVEL, binding_message: 'TRIP-4821', authorization_details: JSON.stringify(TRIP),
    }).expect(200);
    const { auth_req_id: authReqId, approval_uri: uri } = res.body as { auth_req_id: string; approval_uri: string };
    const id = approvalIdOf(uri);

    await page.goto(uri);
    expect(await statusOf(page)).toBe('pending');
    expect(await page.locator('[data-binding-message]').textContent()).toBe('TRIP-4821');
    expect(await fieldText(page, 'agent')).toBe('Trip planner tier2-agent');
    expect(await page.locator('[data-field="agent"] strong').textContent()).toBe('Trip planner');
    expect(await fieldText(page, 'owner')).toBe('bob');
    expect(await fieldText(page, 'tier')).toBe('2');
    expect(await fieldText(page, 'user')).toBe('Alice alice');
    expect(await fieldText(page, 'scopes')).toBe('trips:book');
    const task = page.locator('[data-field="task"] [data-task-type="trip_booking"]');
    expect(await task.locator('h3').textContent()).toBe('trip booking');
    expect(await task.textContent()).toContain('Lisbon');
    expect(await task.textContent()).toContain('2026-12-01 to 2026-12-04');
    expect(await task.locator('.amount').textContent()).toBe('€420.00');
    await screenshot(page, 'docs/approval-page.png');

    expect(await clickAndWait(page, 'approve')).toBe('approved');
    const token = await cibaPoll(t, 'tier2-agent', authReqId).expect(200);
    expect(token.body.scope).toBe('trips:book');
    expect(await verified(token.body.access_token as string)).toMatchObject({
      sub: 'alice', act: { sub: 'tier2-agent' }, approval_id: id, authorization_details: TRIP, acr: 'phr', auth_time: expect.any(Number),
    });
    expect(takeProblems()).toEqual([]);
  });

  it('deny: the page says denied and the agent\'s poll gets access_denied', async () => {
    const { id, authReqId, uri } = await tier1Pending();
    await page.goto(uri);
    expect(await clickAndWait(page, 'deny')).toBe('denied');
    expect(await page.locator('main').getAttribute('data-state')).toBe('denied');
    expect(await page.locator('[data-action=approve]').isHidden()).toBe(true);
    expect(await approvalOf(id)).toMatchObject({ status: 'denied' });
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((r) => expect(r.body.error).toBe('access_denied'));

    // Reloaded, the page shows the decision and offers no buttons.
    await page.reload();
    expect(await statusOf(page)).toBe('denied');
    expect(await page.locator('[data-action]').count()).toBe(0);
    expect(takeProblems()).toEqual([]);
  });

  it('expiry: a reloaded page shows expired without buttons, and the poll gets expired_token', async () => {
    const { id, authReqId, uri } = await tier1Pending();
    await page.goto(uri);
    expect(await statusOf(page)).toBe('pending');

    await expireApproval(t, id);
    await page.reload();
    expect(await statusOf(page)).toBe('expired');
    expect(await page.locator('[data-action=approve]').count()).toBe(0);
    expect(await page.locator('[data-action=deny]').count()).toBe(0);
    expect(await fieldText(page, 'time-left')).toBe('—');
    expect(await approvalOf(id)).toMatchObject({ status: 'expired' });
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((r) => expect(r.body.error).toBe('expired_token'));
    expect(takeProblems()).toEqual([]);
  });

  it('expiry while the page is open: approving fails with an error status, nothing is approved', async () => {
    const { id, authReqId, uri } = await tier1Pending();
    await page.goto(uri);
    expect(await statusOf(page)).toBe('pending');

    await expireApproval(t, id);
    expect(await clickAndWait(page, 'approve')).toMatch(/^error: /);
    expect(await statusOf(page)).toContain('expired');
    expect(await approvalOf(id)).toMatchObject({ status: 'expired' });
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((r) => expect(r.body.error).toBe('expired_token'));
    expect(takeProblems([REFUSED_409])).toEqual([]);
  });

  it('expiry between the passkey prompt and the decision: the signed decision is refused', async () => {
    const { id, authReqId, uri } = await tier1Pending();
    await page.goto(uri);
    // The options (challenge) are issued while pending; the request expires before the decision arrives.
    let intercepted = 0;
    await page.route('**/decision', async (route) => {
      intercepted += 1;
      await expireApproval(t, id);
      await route.continue();
    });
    try {
      expect(await clickAndWait(page, 'approve')).toMatch(/^error: .*expired/);
    } finally {
      await page.unroute('**/decision');
    }
    expect(intercepted).toBe(1);
    expect(await approvalOf(id)).toMatchObject({ status: 'expired' });
    expect(await approvalOf(id)).not.toHaveProperty('decided_at');
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((r) => expect(r.body.error).toBe('expired_token'));
    expect(takeProblems([REFUSED_409])).toEqual([]);
  });

  it('the page counts down and turns to expired by itself when the time runs out', async () => {
    const res = await backchannel(t, 'tier2-agent', { login_hint: 'alice', scope: 'trips:read', resource: TRAVEL, requested_expiry: '3' }).expect(200);
    const { auth_req_id: authReqId, approval_uri: uri } = res.body as { auth_req_id: string; approval_uri: string };
    await page.goto(uri);
    // Served while pending (3 s is ample for a loopback load): the script, not the server, must turn it to expired.
    expect(await page.locator('main').getAttribute('data-state')).toBe('pending');
    expect(await fieldText(page, 'time-left')).toMatch(/^[1-3] s$/);
    await page.locator('[data-status]').filter({ hasText: /^expired$/ }).waitFor({ timeout: 10_000 });
    expect(await fieldText(page, 'time-left')).toBe('expired');
    expect(await page.locator('[data-action=approve]').isHidden()).toBe(true);
    expect(await page.locator('main').getAttribute('data-state')).toBe('expired');

    // The page may round up to the next second: wait until the server's clock has passed too.
    // (The admin API gives `expires_at` as an ISO time; the server compares whole seconds.)
    const expiresAt = Date.parse((await approvalOf(approvalIdOf(uri))).expires_at as string) / 1000;
    expect(Number.isInteger(expiresAt)).toBe(true);
    while (Math.floor(Date.now() / 1000) < expiresAt) await new Promise((resolve) => setTimeout(resolve, 100));
    await cibaPoll(t, 'tier2-agent', authReqId).expect(400).expect((r) => expect(r.body.error).toBe('expired_token'));
    expect(takeProblems()).toEqual([]);
  });

  it('user verification failing: approving ends in an error status and the request stays pending; with UV back, it goes through', async () => {
    const { id, authReqId, uri } = await tier1Pending();
    await page.goto(uri);
    await setUserVerified(authenticator.cdp, authenticator.authenticatorId, false);
    try {
      expect(await clickAndWait(page, 'approve')).toMatch(/^error: /);
    } finally {
      await setUserVerified(authenticator.cdp, authenticator.authenticatorId, true);
    }
    expect(await approvalOf(id)).toMatchObject({ status: 'pending' });
    expect(await approvalOf(id)).not.toHaveProperty('decided_at');
    await cibaPoll(t, 'tier1-agent', authReqId).expect(400).expect((r) => expect(r.body.error).toBe('authorization_pending'));

    // The buttons are usable again, and the same page can still approve.
    expect(await page.locator('[data-action=approve]').isEnabled()).toBe(true);
    expect(await clickAndWait(page, 'approve')).toBe('approved');
    expect(await approvalOf(id)).toMatchObject({ status: 'approved' });
    expect(takeProblems()).toEqual([]);
  });
  it('the approval page\'s CSP holds in the browser: an injected inline script does not run and is reported', async () => {
    // Also shows that the problem watcher the other tests rely on sees CSP violations.
    const { uri } = await tier1Pending();
    await page.goto(uri);
    expect(takeProblems()).toEqual([]);
    const ran = await page.evaluate(`(() => {
      const script = document.createElement('script');
      script.textContent = 'window.__inlineRan = true';
      document.body.appendChild(script);
      return window.__inlineRan === true;
    })()`);
    expect(ran).toBe(false);
    await page.locator('body').evaluate(() => new Promise((resolve) => setTimeout(resolve, 100)));
    expect(takeProblems()).toEqual(expect.arrayContaining([expect.stringMatching(/^console: CSP violation: script-src-elem inline/)]));
  });
});

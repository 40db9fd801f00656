import type { Page } from 'playwright-core';
import request from 'supertest';

import { approvalKey } from '../../../src/store/keys.js';
import { ADMIN_TOKEN, secretOf, type TestApp } from '../../support/app.js';

/** Helpers for browser tests of Mandate's own pages (enrollment, approval). */

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/** Statuses a page ends with (SPEC section 6 hooks); anything else is still in progress. */
const FINAL_STATUS = /^(registered|approved|denied|expired|error: )/;

/** GET an admin route with the test admin token. */
export function adminGet(t: TestApp, path: string) {
  return request(t.server).get(path).set('authorization', `Bearer ${ADMIN_TOKEN}`);
}

/** POST JSON to an admin route with the test admin token. */
export function adminPost(t: TestApp, path: string, body: unknown) {
  return request(t.server).post(path).set('authorization', `Bearer ${ADMIN_TOKEN}`).send(body as object);
}

/** The approval id at the end of an approval_uri (`…/approvals/apr_…`). */
export function approvalIdOf(approvalUri: string): string {
  const id = new URL(approvalUri).pathname.split('/').pop();
  if (!id?.startsWith('apr_')) throw new Error(`not an approval uri: ${approvalUri}`);
  return id;
}

/** The agent's CIBA poll at the token endpoint (client_secret_basic). */
export function cibaPoll(t: TestApp, agent: string, authReqId: string) {
  return request(t.server).post('/token').auth(agent, secretOf(agent)).type('form')
    .send({ grant_type: CIBA_GRANT, auth_req_id: authReqId });
}

/** A CIBA backchannel request (POST /backchannel) as `agent`. */
export function backchannel(t: TestApp, agent: string, params: Record<string, string>) {
  return request(t.server).post('/backchannel').auth(agent, secretOf(agent)).type('form').send(params);
}

/**
 * Makes a pending approval expired on the server, as if its time had run out: its stored record
 * gets `expires_at` one second in the past (the Store applies its own key prefix).
 */
export async function expireApproval(t: TestApp, id: string): Promise<void> {
  const raw = await t.store.get(approvalKey(id));
  if (raw === null) throw new Error(`no stored approval ${id}`);
  const record = JSON.parse(raw) as Record<string, unknown>;
  await t.store.set(approvalKey(id), JSON.stringify({ ...record, expires_at: Math.floor(Date.now() / 1000) - 1 }), { ttlSeconds: 3600 });
}

/** Text of `[data-status]`. */
export async function statusOf(page: Page): Promise<string> {
  return ((await page.locator('[data-status]').textContent()) ?? '').trim();
}

/** Clicks `[data-action=<action>]` and waits for a final status (registered, approved, denied, expired or `error: …`). */
export async function clickAndWait(page: Page, action: string): Promise<string> {
  await page.click(`[data-action=${action}]`);
  await page.locator('[data-status]').filter({ hasText: FINAL_STATUS }).waitFor({ timeout: 20_000 });
  return statusOf(page);
}

/** Text of `[data-field=<name>]`, whitespace collapsed. */
export async function fieldText(page: Page, name: string): Promise<string> {
  return ((await page.locator(`[data-field="${name}"]`).textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * Collects what would show a broken page: console errors, uncaught exceptions, and CSP violations
 * (reported by a listener injected through CDP, which the page's CSP does not apply to).
 */
export async function watchProblems(page: Page): Promise<string[]> {
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  await page.addInitScript(`document.addEventListener('securitypolicyviolation', function (e) {
    console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
  });`);
  return problems;
}

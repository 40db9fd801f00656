import type { Context, Middleware } from 'koa';

import type { Approvals } from '../approvals/approvals.js';
import { MandateError } from '../errors.js';
import type { Enrollments } from '../passkeys/enrollment.js';
import type { WebAuthn } from '../passkeys/webauthn.js';
import { CeremonyError } from '../passkeys/webauthn.js';
import type { Registry } from '../registry/registry.js';
import { PAGE_SCRIPT, PAGE_STYLE } from './assets.js';
import { approvalPage, enrollPage, notFoundPage, statusText } from './html.js';

/**
 * The pages people use (SPEC section 6): `/enroll/{token}` registers a passkey, `/approvals/{id}`
 * shows a request and takes the decision. Each page has two JSON endpoints its script calls:
 * `…/options` (WebAuthn options with a fresh challenge) and the ceremony result.
 *
 * The JSON endpoints accept only `application/json` (so a cross-site form cannot post to them)
 * and refuse a request whose Origin is not one of the relying party's origins; the WebAuthn
 * signature is origin-bound anyway.
 */
export interface PagesDeps {
  approvals: Approvals;
  enrollments: Enrollments;
  webauthn: WebAuthn;
  registry: Registry;
  now?: () => number;
}

/** No inline code, nothing from elsewhere, never framed (clickjacking an approval button). */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const ENROLL = /^\/enroll\/([^/]+)(\/options)?$/;
const APPROVAL = /^\/approvals\/([^/]+)(\/options|\/decision)?$/;

function sendPage(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Content-Security-Policy', PAGE_CSP);
  ctx.body = body;
}

function sendAsset(ctx: Context, type: string, body: string): void {
  ctx.type = type;
  ctx.set('Cache-Control', 'public, max-age=300');
  ctx.body = body;
}

/** The parsed JSON body of a page's POST, after the content-type and Origin checks. */
function jsonBody(ctx: Context, origins: readonly string[]): Record<string, unknown> {
  const origin = ctx.get('origin');
  if (origin !== '' && !origins.includes(origin)) throw new MandateError(403, 'invalid_request', `requests from origin ${origin.slice(0, 200)} are not accepted`);
  if (!ctx.is('application/json')) throw new MandateError(415, 'invalid_request', 'send the body as application/json');
  const raw = typeof ctx.req.body === 'string' ? ctx.req.body : '';
  let parsed: unknown;
  try {
    parsed = raw === '' ? {} : JSON.parse(raw);
  } catch {
    throw new MandateError(400, 'invalid_request', 'the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new MandateError(400, 'invalid_request', 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function action(body: Record<string, unknown>): 'approve' | 'deny' {
  if (body.action !== 'approve' && body.action !== 'deny') throw new CeremonyError('action must be "approve" or "deny"');
  return body.action;
}

export function pages(deps: PagesDeps): Middleware {
  const { approvals, enrollments, webauthn, registry } = deps;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const origins = webauthn.rp.origins;

  async function enroll(ctx: Context, token: string, options: boolean): Promise<void> {
    const enrollment = await enrollments.find(token);
    const user = enrollment && await registry.user(enrollment.user_id);
    const usable = user?.status === 'active' ? user : undefined;
    if (ctx.method === 'GET' && !options) {
      sendPage(ctx, usable ? 200 : 404, enrollPage(usable && { id: usable.id, name: usable.name }));
      return;
    }
    if (ctx.method !== 'POST') throw new MandateError(405, 'invalid_request', `${ctx.method} is not allowed here`);
    const body = jsonBody(ctx, origins);
    if (!enrollment || !usable) throw new MandateError(404, 'invalid_request', 'this enrollment link is not valid: it may have been used or have expired');
    if (options) {
      ctx.body = await webauthn.registrationOptions(usable, { purpose: 'enroll', user_id: usable.id, enrollment: enrollment.digest }, enrollment.expires_at - now());
      return;
    }
    const passkey = await webauthn.register(body.credential, (c) => (c.purpose === 'enroll' && c.enrollment === enrollment.digest && c.user_id === usable.id
      ? undefined : 'this challenge was not issued for this enrollment link'));
    if (!(await enrollments.consume(enrollment))) {
      await webauthn.forget(passkey);
      throw new MandateError(409, 'conflict', 'this enrollment link was used by another request at the same moment');
    }
    ctx.body = { status: 'registered', passkey: { id: passkey.id, created_at: passkey.created_at } };
  }

  async function approval(ctx: Context, id: string, sub: string | undefined): Promise<void> {
    if (ctx.method === 'GET' && sub === undefined) {
      const found = await approvals.get(id);
      if (!found) {
        sendPage(ctx, 404, notFoundPage('no such approval request'));
        return;
      }
      const state = approvals.stateOf(found);
      if (state === 'expired') await approvals.recordExpiry(found);
      const approver = await registry.user(found.approver);
      const resource = registry.resource(found.audience);
      sendPage(ctx, 200, approvalPage({
        approval: found, state, approverName: approver?.name ?? found.approver, secondsLeft: Math.max(0, found.expires_at - now()),
        ...(resource ? { resourceName: resource.name } : {}),
      }));
      return;
    }
    if (ctx.method !== 'POST' || sub === undefined) throw new MandateError(405, 'invalid_request', `${ctx.method} is not allowed here`);
    const body = jsonBody(ctx, origins);
    if (sub === '/options') {
      ctx.body = await approvals.options(id, action(body));
      return;
    }
    const decided = await approvals.decide(id, action(body), body.credential, ctx.state.requestId as string | undefined);
    ctx.body = { status: statusText(approvals.stateOf(decided)) };
  }

  return async function pagesMiddleware(ctx, next) {
    if (ctx.path === '/assets/mandate.js' && ctx.method === 'GET') return sendAsset(ctx, 'application/javascript; charset=utf-8', PAGE_SCRIPT);
    if (ctx.path === '/assets/mandate.css' && ctx.method === 'GET') return sendAsset(ctx, 'text/css; charset=utf-8', PAGE_STYLE);
    if (ctx.path === '/favicon.ico' && ctx.method === 'GET') {
      // Browsers ask for it on every page: answer "no icon" instead of a 404 in their console.
      ctx.status = 204;
      ctx.set('Cache-Control', 'public, max-age=86400');
      return undefined;
    }
    const enrollMatch = ENROLL.exec(ctx.path);
    if (enrollMatch) return enroll(ctx, enrollMatch[1]!, enrollMatch[2] !== undefined);
    const approvalMatch = APPROVAL.exec(ctx.path);
    if (approvalMatch) return approval(ctx, approvalMatch[1]!, approvalMatch[2]);
    return next();
  };
}

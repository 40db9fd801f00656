import type { ApprovalRecord } from '../approvals/records.js';

/**
 * Server-rendered pages for people: the approval page and the enrollment page. Everything that
 * comes from a request or a record is escaped; the pages load one script and one stylesheet from
 * /assets (the CSP allows nothing else) and carry their data in data- attributes.
 *
 * Hooks for browser tests (SPEC section 6): buttons `[data-action=register|approve|deny]` and
 * `[data-status]`, whose text ends as registered, approved, denied, expired or `error: …`.
 */
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A template literal tag that escapes every interpolated value unless it is already `Html`. */
class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    const rendered = Array.isArray(value)
      ? value.map((v) => (v instanceof Html ? v.text : escapeHtml(v))).join('')
      : value instanceof Html ? value.text : value === undefined || value === null || value === false ? '' : escapeHtml(value);
    out += rendered + strings[i + 1]!;
  });
  return new Html(out);
}

function page(title: string, pageName: string, data: Record<string, string>, body: Html): string {
  const attributes = Object.entries(data).map(([k, v]) => ` data-${k}="${escapeHtml(v)}"`).join('');
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Mandate</title>
<link rel="stylesheet" href="/assets/mandate.css">
<script src="/assets/mandate.js" defer></script>
</head>
<body>
<main data-page="${pageName}"${new Html(attributes)}>
${body}
</main>
</body>
</html>
`.text;
}

// ——— amounts and tasks ———

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `{amount|value, currency}` as a money string ("€420.00"), the way a person reads an amount. */
export function moneyOf(value: unknown): string | undefined {
  if (!isObject(value) || typeof value.currency !== 'string' || !/^[A-Z]{3}$/.test(value.currency)) return undefined;
  const raw = value.amount ?? value.value;
  const amount = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : undefined;
  if (amount === undefined || !Number.isFinite(amount)) return undefined;
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency: value.currency }).format(amount);
  } catch {
    return `${raw} ${value.currency}`;
  }
}

const label = (key: string): string => key.replace(/[_-]+/g, ' ');

function renderValue(value: unknown, depth = 0): Html {
  const money = moneyOf(value);
  if (money !== undefined) return html`<strong class="amount">${money}</strong>`;
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) return html`${value.map(String).join(', ')}`;
    return html`<ul>${value.map((v) => html`<li>${renderValue(v, depth + 1)}</li>`)}</ul>`;
  }
  if (isObject(value)) {
    if (depth > 4) return html`${JSON.stringify(value)}`;
    return html`<dl class="nested">${Object.entries(value).map(([k, v]) => html`<dt>${label(k)}</dt><dd>${renderValue(v, depth + 1)}</dd>`)}</dl>`;
  }
  return html`${String(value)}`;
}

function renderTask(details: ApprovalRecord['authorization_details']): Html {
  if (!details || details.length === 0) return html`<p class="muted">No task details were given.</p>`;
  return html`${details.map(({ type, ...fields }) => html`<section class="task" data-task-type="${type}">
<h3>${label(type)}</h3>
<dl>${Object.entries(fields).map(([k, v]) => html`<dt>${label(k)}</dt><dd>${renderValue(v)}</dd>`)}</dl>
</section>`)}`;
}

export function timeLeft(seconds: number): string {
  if (seconds <= 0) return 'expired';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${s} s` : `${s} s`;
}

// ——— pages ———

export interface ApprovalView {
  approval: ApprovalRecord;
  state: ApprovalRecord['status'] | 'expired';
  approverName: string;
  resourceName?: string;
  secondsLeft: number;
}

const REASONS: Record<ApprovalRecord['reason'], string> = {
  tier_always: 'every request of a tier-1 agent needs your approval',
  high_risk_scope: 'it asks for a high-risk permission',
  consent: 'you have not allowed this agent to act for you yet: approving also allows it for later requests of the same kind',
  ciba: 'the agent asked you directly',
};

/** Status text of a decided request, as the page hooks name it. */
export function statusText(state: ApprovalView['state']): string {
  return state === 'redeemed' ? 'approved' : state;
}

export function approvalPage(view: ApprovalView): string {
  const { approval: a, state } = view;
  const pending = state === 'pending';
  const body = html`<h1>${pending ? 'An agent asks for your approval' : 'Agent request'}</h1>
${pending ? html`<p class="lead">Approve only if you expect this request. You will confirm with your passkey.</p>` : ''}
${a.binding_message !== undefined ? html`<p class="binding">Check that your agent shows this code: <strong data-binding-message>${a.binding_message}</strong></p>` : ''}
<dl class="facts">
<dt>Agent</dt><dd data-field="agent"><strong>${a.agent.name}</strong> <code>${a.agent.id}</code></dd>
<dt>Agent owner</dt><dd data-field="owner">${a.agent.owner}</dd>
<dt>Risk tier</dt><dd data-field="tier">${a.agent.tier}${a.agent.tier === 1 ? ' (highest risk)' : ''}</dd>
<dt>Acting for</dt><dd data-field="user">${view.approverName} <code>${a.approver}</code></dd>
<dt>Permissions</dt><dd data-field="scopes">${a.scopes.map((s) => html`<code class="scope">${s}</code> `)}</dd>
<dt>At</dt><dd data-field="audience">${view.resourceName ? html`${view.resourceName} ` : ''}<code>${a.audience}</code></dd>
<dt>Why you are asked</dt><dd>${REASONS[a.reason]}</dd>
<dt>Time left</dt><dd data-field="time-left" data-expires-at="${String(a.expires_at)}">${pending ? timeLeft(view.secondsLeft) : '—'}</dd>
</dl>
<h2>Task</h2>
<div data-field="task">${renderTask(a.authorization_details)}</div>
${pending ? html`<div class="actions">
<button type="button" class="approve" data-action="approve">Approve with passkey</button>
<button type="button" class="deny" data-action="deny">Deny</button>
</div>` : ''}
<p class="status">Status: <span data-status>${statusText(state)}</span></p>`;
  return page('Approval request', 'approval', { 'approval-id': a.id, state }, body);
}

export function enrollPage(user: { id: string; name: string } | undefined): string {
  const body = user
    ? html`<h1>Register a passkey</h1>
<p class="lead">This passkey lets <strong>${user.name}</strong> (<code>${user.id}</code>) approve agent requests. Your device will ask for your fingerprint, face or PIN.</p>
<div class="actions"><button type="button" class="approve" data-action="register">Register a passkey</button></div>
<p class="status">Status: <span data-status>ready</span></p>`
    : html`<h1>Register a passkey</h1>
<p class="status">Status: <span data-status>error: this enrollment link is not valid: it may have been used or have expired. Ask your administrator for a new one.</span></p>`;
  return page('Register a passkey', 'enroll', {}, body);
}

export function notFoundPage(what: string): string {
  return page('Not found', 'not-found', {}, html`<h1>Not found</h1><p class="status">Status: <span data-status>error: ${what}</span></p>`);
}

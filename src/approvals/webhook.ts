import type { Logger } from '../log.js';
import type { ApprovalRecord } from './records.js';

/**
 * `notifications.approval_webhook`: one JSON POST per new approval request, so that a chat bot
 * or a mailer can tell the approver. Bounded retries with backoff; a failure is logged (with the
 * webhook's origin only: its path or query may carry a secret) and never delays or fails the
 * agent's request.
 */
export interface ApprovalNotice {
  type: 'approval.requested';
  approval_id: string;
  approval_uri: string;
  agent: { id: string; name: string; owner: string; tier: number };
  owner: string;
  user: string;
  scopes: string[];
  audience: string;
  binding_message?: string;
  expires_at: string;
}

export interface WebhookOptions {
  url: string;
  logger: Logger;
  attempts?: number;
  timeoutMs?: number;
  /** Delay before retry n (1-based). */
  backoffMs?: (attempt: number) => number;
}

export function noticeOf(approval: ApprovalRecord, approvalUri: string): ApprovalNotice {
  return {
    type: 'approval.requested',
    approval_id: approval.id,
    approval_uri: approvalUri,
    agent: approval.agent,
    owner: approval.agent.owner,
    user: approval.approver,
    scopes: approval.scopes,
    audience: approval.audience,
    ...(approval.binding_message !== undefined ? { binding_message: approval.binding_message } : {}),
    expires_at: new Date(approval.expires_at * 1000).toISOString(),
  };
}

export type Notifier = (notice: ApprovalNotice) => Promise<boolean>;

export function webhookNotifier(options: WebhookOptions): Notifier {
  const attempts = options.attempts ?? 3;
  const timeoutMs = options.timeoutMs ?? 5000;
  const backoff = options.backoffMs ?? ((n: number) => 500 * 4 ** (n - 1));
  const origin = new URL(options.url).origin;
  return async (notice) => {
    let problem = '';
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'mandate-approval-webhook' },
          body: JSON.stringify(notice),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
        await response.body?.cancel();
        if (response.ok) return true;
        problem = `status ${response.status}`;
        // A client error will not get better by retrying, except 408 and 429.
        if (response.status < 500 && response.status !== 408 && response.status !== 429) break;
      } catch (err) {
        problem = err instanceof Error ? err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : err.message : String(err);
      }
      if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, backoff(attempt)));
    }
    options.logger.warn({ webhook: origin, approval_id: notice.approval_id, problem }, 'approval webhook failed');
    return false;
  };
}

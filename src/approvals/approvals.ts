import { randomBytes } from 'node:crypto';

import type { AuditInput, AuditTrail } from '../audit/trail.js';
import type { Policy } from '../config/policy-schema.js';
import { MandateError } from '../errors.js';
import { bindingKey } from '../exchange/checks.js';
import { must } from '../exchange/errors.js';
import { fail } from '../exchange/types.js';
import type { Logger } from '../log.js';
import { actorIds } from '../policy/act.js';
import { decideLifetime, MAX_TOKEN_TTL } from '../policy/lifetime.js';
import type { Passkeys } from '../passkeys/passkeys.js';
import { CeremonyError, type WebAuthn } from '../passkeys/webauthn.js';
import type { Governance } from '../registry/governance.js';
import type { Registry } from '../registry/registry.js';
import { secretDigest, secretMatches } from '../registry/secrets.js';
import { approvalIndexKey, approvalKey, approvalPollKey } from '../store/keys.js';
import type { Store } from '../store/store.js';
import type { Minter } from '../tokens/mint.js';
import type { TokenRecords } from '../tokens/records.js';
import { APPROVAL_ACR, approvalAmr, approvalHash, type ApprovalRecord } from './records.js';
import { noticeOf, type Notifier } from './webhook.js';

/**
 * Human approvals (SPEC section 6) as one service: a request is created (from a token exchange
 * or the CIBA backchannel endpoint), the approver decides on the approval page with a passkey,
 * and the agent polls the token endpoint until it gets the token, once.
 *
 * Every state change is a compare-and-set on the approval record: a decision happens once, and
 * of any number of concurrent redemptions exactly one issues a token.
 */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/** An approved request may still be collected this long after the approval window closed (s). */
export const REDEEM_GRACE_SECONDS = 60;
/** Records stay this long after expiry, so late polls get expired_token and the admin API shows them (s). */
const KEEP_AFTER_EXPIRY_SECONDS = 86_400;

/** What the agent is told while a human decides (CIBA / SPEC rule 9). */
export interface PendingAnswer {
  auth_req_id: string;
  expires_in: number;
  interval: number;
  approval_uri: string;
}

/** The 400 `authorization_pending` answer of a token exchange that needs a human approval. */
export class ApprovalPending extends MandateError {
  constructor(readonly answer: PendingAnswer, description: string) {
    super(400, 'authorization_pending', description);
    this.name = 'ApprovalPending';
  }

  override toJSON(): { error: string; error_description: string } & PendingAnswer {
    return { ...super.toJSON(), ...this.answer };
  }
}

/** Everything a new request states; the service adds the id, times, status, hash and secret. */
export type NewApproval = Pick<ApprovalRecord, 'reason' | 'consent' | 'agent' | 'approver' | 'subject' | 'scopes' | 'audience' | 'authorization_details' | 'binding_message' | 'issue'> & {
  /** Seconds; at most limits.approval_ttl_seconds. */
  ttlSeconds?: number;
  requestId?: string;
};

export interface TokenAnswer {
  access_token: string;
  issued_token_type: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
}

export interface ApprovalsDeps {
  issuer: string;
  policy: Policy;
  store: Store;
  registry: Registry;
  governance: Governance;
  passkeys: Passkeys;
  webauthn: WebAuthn;
  minter: Minter;
  records: TokenRecords;
  audit: AuditTrail;
  logger: Logger;
  notify?: Notifier;
  rememberDpopJti: (jkt: string, jti: string, ttlSeconds: number) => Promise<boolean>;
  now?: () => number;
}

const oauth = (error: string, description: string): MandateError => new MandateError(400, error, description);
const APPROVAL_ID = /^apr_[A-Za-z0-9_-]{22}$/;

export class Approvals {
  readonly #d: ApprovalsDeps;
  readonly #now: () => number;

  constructor(deps: ApprovalsDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  }

  uriOf(id: string): string {
    return `${this.#d.issuer}/approvals/${id}`;
  }

  /** Does this user have a passkey to approve with? */
  async canApprove(userId: string): Promise<boolean> {
    return (await this.#d.passkeys.count(userId)) > 0;
  }

  // ——— creating ———

  async request(input: NewApproval): Promise<{ approval: ApprovalRecord; answer: PendingAnswer }> {
    const { policy } = this.#d;
    const now = this.#now();
    const ttl = Math.min(input.ttlSeconds ?? policy.limits.approval_ttl_seconds, policy.limits.approval_ttl_seconds);
    const id = `apr_${randomBytes(16).toString('base64url')}`;
    const secret = randomBytes(24).toString('base64url');
    const { ttlSeconds: _ttl, requestId: _requestId, ...stated } = input;
    const draft: Omit<ApprovalRecord, 'hash'> = {
      ...stated, id, status: 'pending', client_id: input.agent.id,
      created_at: now, expires_at: now + ttl, interval: policy.limits.approval_poll_interval_seconds, request_digest: secretDigest(secret),
    };
    const approval: ApprovalRecord = { ...draft, hash: approvalHash(draft) };
    const keep = ttl + KEEP_AFTER_EXPIRY_SECONDS;
    // The record first: the index and the audit event never point at a missing record.
    await this.#d.audit.record(this.#event(approval, 'approval.requested', input.requestId), {
      with: [
        { op: 'set', key: approvalKey(id), value: JSON.stringify(approval), ttlSeconds: keep },
        { op: 'addToSet', key: approvalIndexKey(), member: id, ttlSeconds: keep },
      ],
    });
    if (this.#d.notify) void this.#d.notify(noticeOf(approval, this.uriOf(id))).catch(() => undefined);
    return { approval, answer: { auth_req_id: `${id}.${secret}`, expires_in: ttl, interval: approval.interval, approval_uri: this.uriOf(id) } };
  }

  // ——— reading ———

  async get(id: string): Promise<ApprovalRecord | undefined> {
    return APPROVAL_ID.test(id) ? (await this.#read(id))?.record : undefined;
  }

  /** The state a person or a poll should see: a pending request past its expiry is expired. */
  stateOf(approval: ApprovalRecord): ApprovalRecord['status'] | 'expired' {
    if (approval.status === 'pending' && this.#now() >= approval.expires_at) return 'expired';
    return approval.status;
  }

  /** Recent approvals for the admin API, newest first, filtered; missing records are pruned from the index. */
  async page(options: { limit: number; cursor?: string; filter: (a: ApprovalRecord) => boolean }): Promise<{ items: ApprovalRecord[]; next_cursor: string | null }> {
    const all = await this.#all();
    const position = (a: ApprovalRecord): string => `${String(9_999_999_999 - a.created_at).padStart(10, '0')}:${a.id}`;
    // Code-unit order, the same order as the cursor comparison below (localeCompare is not).
    const sorted = all.filter(options.filter).sort((a, b) => (position(a) < position(b) ? -1 : position(a) > position(b) ? 1 : 0));
    const after = options.cursor === undefined ? '' : Buffer.from(options.cursor, 'base64url').toString('utf8');
    const rest = sorted.filter((a) => position(a) > after);
    const items = rest.slice(0, options.limit);
    const more = rest.length > options.limit;
    return { items, next_cursor: more ? Buffer.from(position(items[items.length - 1]!)).toString('base64url') : null };
  }

  // ——— deciding (the approval page) ———

  /** WebAuthn options for approving or denying: only the approver's passkeys, bound to this request's hash. */
  async options(id: string, action: 'approve' | 'deny'): Promise<unknown> {
    const approval = await this.#decidable(id);
    const ttl = Math.min(300, approval.expires_at - this.#now());
    return this.#d.webauthn.authenticationOptions(approval.approver, { purpose: action, user_id: approval.approver, approval_id: id, approval_hash: approval.hash }, ttl);
  }

  /** Verifies the approver's passkey assertion and records the decision (once). */
  async decide(id: string, action: 'approve' | 'deny', credential: unknown, requestId?: string): Promise<ApprovalRecord> {
    const approval = await this.#decidable(id);
    const { passkey, authTime } = await this.#d.webauthn.assert(credential, (c) => {
      if (c.purpose === 'enroll' || c.approval_id !== id) return 'this passkey assertion was made for a different approval';
      if (c.purpose !== action) return `this challenge was issued to ${c.purpose}, not to ${action}`;
      if (c.approval_hash !== approval.hash) return 'the request changed after the challenge was issued';
      return undefined;
    });
    const decided = await this.#update(id, (current) => {
      if (this.stateOf(current) !== 'pending') throw this.#notDecidable(current);
      return {
        ...current, status: action === 'approve' ? 'approved' : 'denied', decided_at: this.#now(), passkey_id: passkey.id, auth_time: authTime,
        amr: approvalAmr(passkey.backup_eligible),
        ...(action === 'approve' && current.consent ? { delegation_id: consentDelegationId(id) } : {}),
      };
    });
    await this.#record(decided, action === 'approve' ? 'approval.approved' : 'approval.denied', requestId);
    if (decided.status === 'approved' && decided.consent) {
      await this.#consentDelegation(decided, requestId).catch((err: unknown) => {
        // Redemption creates it if this failed (e.g. the store blinked): log, do not fail the decision.
        this.#d.logger.warn({ err, approval_id: id }, 'consent delegation not created yet');
      });
    }
    return decided;
  }

  async #decidable(id: string): Promise<ApprovalRecord> {
    const approval = await this.get(id);
    if (!approval) throw new MandateError(404, 'not_found', `no approval request ${id}`);
    if (this.stateOf(approval) !== 'pending') throw this.#notDecidable(approval);
    const approver = await this.#d.registry.user(approval.approver);
    if (approver?.status !== 'active') throw new CeremonyError(`approver ${approval.approver} is not an active user`, 409, 'conflict');
    return approval;
  }

  #notDecidable(approval: ApprovalRecord): MandateError {
    const state = this.stateOf(approval);
    if (state === 'expired') {
      void this.recordExpiry(approval);
      return new MandateError(409, 'expired', `approval request ${approval.id} has expired`);
    }
    return new MandateError(409, 'conflict', `approval request ${approval.id} is already ${state}`);
  }

  // ——— polling (the token endpoint) ———

  /**
   * CIBA poll (`grant_type=urn:openid:params:grant-type:ciba`): authorization_pending while
   * undecided, slow_down when polled faster than `interval`, access_denied, expired_token, or the
   * token, once. The redemption is a compare-and-set from approved to redeemed.
   */
  async redeem(input: { clientId: string; authReqId: unknown; dpopProofs: readonly string[]; requestId?: string }): Promise<TokenAnswer> {
    if (typeof input.authReqId !== 'string' || input.authReqId === '') throw oauth('invalid_request', 'auth_req_id is required');
    const unknown = oauth('invalid_grant', 'auth_req_id is not known, or was issued to another client');
    const [id, secret, extra] = input.authReqId.split('.');
    if (id === undefined || secret === undefined || extra !== undefined) throw unknown;
    const approval = await this.get(id);
    if (!approval || approval.client_id !== input.clientId || !secretMatches(secret, approval.request_digest)) throw unknown;

    const now = this.#now();
    switch (this.stateOf(approval)) {
      case 'redeemed':
        throw oauth('invalid_grant', 'this auth_req_id has already been redeemed');
      case 'denied':
        throw oauth('access_denied', `${approval.approver} denied the request`);
      case 'expired':
        await this.recordExpiry(approval);
        throw oauth('expired_token', `approval request ${id} expired before ${approval.approver} decided; make a new request`);
      case 'pending': {
        const waited = await this.#d.store.set(approvalPollKey(id), '1', { ttlSeconds: approval.interval, onlyIfAbsent: true });
        if (!waited) throw oauth('slow_down', `poll at most every ${approval.interval} s`);
        throw oauth('authorization_pending', `waiting for ${approval.approver} to approve at ${this.uriOf(id)}`);
      }
      case 'approved':
        if (now >= approval.expires_at + REDEEM_GRACE_SECONDS) {
          throw oauth('expired_token', `approval request ${id} was approved but not collected in time; make a new request`);
        }
        return this.#issue(approval, input);
    }
  }

  async #issue(approval: ApprovalRecord, input: { dpopProofs: readonly string[]; requestId?: string }): Promise<TokenAnswer> {
    const { store, records } = this.#d;
    const now = this.#now();
    const claimed = await this.#update(approval.id, (current) => {
      if (current.status !== 'approved') throw oauth('invalid_grant', 'this auth_req_id has already been redeemed');
      return { ...current, status: 'redeemed', redeemed_at: now };
    });
    try {
      const plan = claimed.issue;
      const approver = await this.#d.registry.user(claimed.approver);
      if (approver?.status !== 'active') must(fail('invalid_request', `user ${claimed.approver} has been deactivated since approving`, 'subject_deactivated'));
      if (plan.parent_jti !== undefined && !records.isActive(await records.get(plan.parent_jti))) {
        must(fail('invalid_request', 'the subject token of this request has been revoked or has expired', 'revoked_token'));
      }
      const delegationId = claimed.delegation_id ?? plan.delegation_id;
      if (claimed.consent) await this.#consentDelegation(claimed, input.requestId);
      if (delegationId !== undefined) {
        const delegation = await this.#d.registry.delegation(delegationId);
        if (!delegation || (delegation.expiresAt !== undefined && delegation.expiresAt <= now)) {
          must(fail('invalid_request', `delegation ${delegationId} behind this request is no longer active`, 'delegation_inactive'));
        }
      }
      const agent = { id: claimed.client_id, require_dpop: (await this.#d.registry.agent(claimed.client_id))?.require_dpop ?? false };
      const bound = plan.cnf_jkt !== undefined ? { jkt: plan.cnf_jkt, what: 'this request' } : undefined;
      const jkt = await bindingKey(input.dpopProofs, agent, bound, this.#d, now);
      const ttl = must(decideLifetime({ now, ...plan.lifetime, subjectExp: plan.lifetime.subjectExp ?? now + MAX_TOKEN_TTL }));
      const scope = claimed.scopes.join(' ');
      const minted = await this.#d.minter.mint({
        clientId: claimed.client_id, sub: plan.sub, aud: claimed.audience, scope, ttlSeconds: ttl, grantType: plan.grant_type,
        ...(plan.parent_jti !== undefined ? { parentJti: plan.parent_jti } : {}),
        ...(delegationId !== undefined ? { delegationId } : {}),
        extraClaims: {
          act: plan.act,
          ...(claimed.authorization_details ? { authorization_details: claimed.authorization_details } : {}),
          ...(jkt ? { cnf: { jkt } } : {}),
          ...(plan.sub_iss !== undefined ? { sub_iss: plan.sub_iss } : {}),
          approval_id: claimed.id, acr: APPROVAL_ACR, amr: claimed.amr ?? approvalAmr(false), auth_time: claimed.auth_time ?? claimed.decided_at ?? now,
        },
      }, (record) => [
        { ...this.#event(claimed, 'token.issued', input.requestId), jti: record.jti, ...(delegationId ? { delegation_id: delegationId } : {}) },
        { ...this.#event(claimed, 'approval.redeemed', input.requestId), jti: record.jti },
      ]);
      // Best effort: the record already says redeemed; the jti helps the admin API and the trail.
      await store.compareAndSet(approvalKey(claimed.id), JSON.stringify(claimed), JSON.stringify({ ...claimed, jti: minted.record.jti })).catch(() => false);
      return { access_token: minted.accessToken, issued_token_type: plan.token_type, token_type: jkt ? 'DPoP' : 'Bearer', expires_in: minted.expiresIn, scope };
    } catch (err) {
      // Nothing was issued: give the approval back so that a later poll can still collect it.
      await store.compareAndSet(approvalKey(claimed.id), JSON.stringify(claimed), JSON.stringify({ ...claimed, status: 'approved', redeemed_at: undefined })).catch(() => false);
      throw err;
    }
  }

  // ——— consent, expiry, audit ———

  /** The delegation a consent approval creates; idempotent (a second call finds it). */
  async #consentDelegation(approval: ApprovalRecord, requestId?: string): Promise<void> {
    const id = consentDelegationId(approval.id);
    if (await this.#d.registry.delegation(id)) return;
    const expires = new Date((this.#now() + this.#d.policy.limits.consent_delegation_ttl_seconds) * 1000).toISOString();
    try {
      await this.#d.governance.createDelegation(
        { id, user: approval.approver, agent: approval.client_id, scopes: approval.scopes, audiences: [approval.audience], expires_at: expires },
        { ...(requestId ? { requestId } : {}), reason: `consent approval ${approval.id}` },
        { approval_id: approval.id },
      );
    } catch (err) {
      // A concurrent caller created it first.
      if (!(err instanceof MandateError && err.status === 409)) throw err;
    }
  }

  /** Writes the `approval.expired` event once per request, whoever notices first. */
  async recordExpiry(approval: ApprovalRecord): Promise<void> {
    if (this.stateOf(approval) !== 'expired' || approval.expiry_audited) return;
    const outcome = await this.#d.store.setJsonFieldIfAbsent(approvalKey(approval.id), 'expiry_audited', true).catch(() => 'missing' as const);
    if (outcome !== 'set') return;
    await this.#d.audit.recordBestEffort({ ...this.#event(approval, 'approval.expired'), outcome: 'failure', reason: 'not decided in time' });
  }

  /** Records the expiry of every pending request past its time (run by the periodic sweep). */
  async sweepExpired(): Promise<number> {
    const expired = (await this.#all()).filter((a) => this.stateOf(a) === 'expired' && !a.expiry_audited);
    for (const approval of expired) await this.recordExpiry(approval);
    return expired.length;
  }

  /** Every indexed request, in one read; ids whose record has expired are pruned from the index. */
  async #all(): Promise<ApprovalRecord[]> {
    const { store } = this.#d;
    const ids = await store.setMembers(approvalIndexKey());
    const raws = ids.length === 0 ? [] : await store.getMany(ids.map(approvalKey));
    const all: ApprovalRecord[] = [];
    for (const [i, raw] of raws.entries()) {
      if (raw === null) await store.removeFromSet(approvalIndexKey(), ids[i]!);
      else all.push(JSON.parse(raw) as ApprovalRecord);
    }
    return all;
  }

  #event(approval: ApprovalRecord, type: string, requestId?: string): AuditInput {
    const failure = type === 'approval.denied';
    const delegationId = approval.delegation_id ?? approval.issue.delegation_id;
    const parentJti = approval.issue.subject_jti ?? approval.issue.parent_jti;
    return {
      type, outcome: failure ? 'failure' : 'success', approval_id: approval.id, client_id: approval.client_id, subject: approval.subject,
      actors: actorIds(approval.issue.act), audience: approval.audience, scope: approval.scopes.join(' '), approver: approval.approver,
      ...(parentJti !== undefined ? { parent_jti: parentJti } : {}),
      ...(delegationId !== undefined ? { delegation_id: delegationId } : {}),
      ...(requestId !== undefined ? { request_id: requestId } : {}),
    };
  }

  async #record(approval: ApprovalRecord, type: string, requestId?: string): Promise<void> {
    await this.#d.audit.record(this.#event(approval, type, requestId));
  }

  async #read(id: string): Promise<{ raw: string; record: ApprovalRecord } | undefined> {
    const raw = await this.#d.store.get(approvalKey(id));
    return raw === null ? undefined : { raw, record: JSON.parse(raw) as ApprovalRecord };
  }

  /** Read, change, compare-and-set; a lost race re-reads and asks `change` again (which may refuse). */
  async #update(id: string, change: (current: ApprovalRecord) => ApprovalRecord): Promise<ApprovalRecord> {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const current = await this.#read(id);
      if (!current) throw new MandateError(404, 'not_found', `no approval request ${id}`);
      const next = change(current.record);
      if (await this.#d.store.compareAndSet(approvalKey(id), current.raw, JSON.stringify(next))) return next;
    }
    throw new MandateError(409, 'conflict', `approval request ${id} is being changed concurrently; try again`);
  }
}

export const consentDelegationId = (approvalId: string): string => `dlg_consent_${approvalId.slice(4)}`;

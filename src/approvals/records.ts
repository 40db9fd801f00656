import { createHash } from 'node:crypto';

import type { ActClaim, AuthorizationDetail } from '../exchange/types.js';
import type { LifetimeBounds } from '../policy/lifetime.js';

/**
 * A human approval request (SPEC section 6): what an agent asked for, who must decide, and, once
 * approved, everything needed to issue the token without asking the agent again. The record is
 * the single source of truth for the page, the poll and the admin API.
 */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'redeemed';

/** Why a human must decide. */
export type ApprovalReason = 'tier_always' | 'high_risk_scope' | 'consent' | 'ciba';

/** What the token will be once approved: the decisions already made when the request was created. */
export interface IssuePlan {
  grant_type: string;
  /** `issued_token_type` of the answer. */
  token_type: string;
  sub: string;
  sub_iss?: string;
  act: ActClaim;
  /** The subject token (token exchange) when Mandate issued it: it must still be active at redemption. */
  parent_jti?: string;
  /** The subject token's jti whoever issued it (the IdP's for a first hop): the audit trail's `parent_jti`. */
  subject_jti?: string;
  /** The standing delegation the request relied on: it must still be active at redemption. */
  delegation_id?: string;
  /** Key the token is bound to (RFC 9449): the poll must prove possession of it. */
  cnf_jkt?: string;
  /** Rule 7's bounds; the lifetime itself is decided at redemption. */
  lifetime: LifetimeBounds;
}

export interface ApprovalRecord {
  id: string;
  status: ApprovalStatus;
  reason: ApprovalReason;
  /** No delegation existed: approving creates one (consent). */
  consent: boolean;
  client_id: string;
  agent: { id: string; name: string; owner: string; tier: 1 | 2 | 3 };
  /** The user who must decide: the subject. */
  approver: string;
  /** For whom the agent acts, as the audit trail names it. */
  subject: { iss: string; sub: string };
  scopes: string[];
  audience: string;
  authorization_details?: AuthorizationDetail[];
  binding_message?: string;
  /** Epoch seconds. */
  created_at: number;
  expires_at: number;
  /** Seconds the agent must wait between polls. */
  interval: number;
  /** SHA-256 of the canonical content: what the approver's passkey signs over. */
  hash: string;
  /** Digest of the secret half of `auth_req_id` (`secretDigest`, as client secrets). */
  request_digest: string;
  issue: IssuePlan;
  decided_at?: number;
  /** The passkey that decided. */
  passkey_id?: string;
  auth_time?: number;
  amr?: string[];
  /** The delegation a consent approval created. */
  delegation_id?: string;
  redeemed_at?: number;
  /** The token issued on redemption. */
  jti?: string;
  /** Set once the expiry has been recorded in the audit trail. */
  expiry_audited?: boolean;
}

/** JSON with object keys sorted at every level: the same content always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The hash of exactly what the approver is shown and decides on. */
export function approvalHash(a: Omit<ApprovalRecord, 'hash'>): string {
  const content = {
    id: a.id, reason: a.reason, consent: a.consent, client_id: a.client_id, approver: a.approver, subject: a.subject, act: a.issue.act,
    scopes: a.scopes, audience: a.audience, authorization_details: a.authorization_details, binding_message: a.binding_message,
    expires_at: a.expires_at, cnf_jkt: a.issue.cnf_jkt,
  };
  return createHash('sha256').update(canonicalJson(content)).digest('base64url');
}

/** Authentication context of a passkey approval: phishing-resistant (OpenID EAP `phr`). */
export const APPROVAL_ACR = 'phr';

/** RFC 8176 methods: a synced passkey is a software-secured key, a device-bound one hardware; UV makes it multi-factor. */
export function approvalAmr(backupEligible: boolean): string[] {
  return [backupEligible ? 'swk' : 'hwk', 'user', 'mfa'];
}

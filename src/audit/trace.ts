import type { Approvals } from '../approvals/approvals.js';
import type { DelegationRecord, UserRecord } from '../registry/records.js';
import type { StoreRegistry } from '../registry/store-registry.js';
import type { TokenRecords } from '../tokens/records.js';
import type { StoredEvent } from './events.js';
import type { AuditTrail } from './trail.js';

/**
 * "Who allowed this?" for one token (`GET /admin/audit/trace/{jti}`): from its `token.issued`
 * event up through the parent tokens it was exchanged from, each hop with the delegation or
 * approval that allowed it, to the origin (the delegation or consent approval at the root) and the
 * human. Built from the audit trail, so it still answers after the tokens have expired.
 */
export interface TraceDeps {
  issuer: string;
  audit: AuditTrail;
  registry: StoreRegistry;
  records: TokenRecords;
  approvals: Approvals;
}

/** What allowed one hop. */
export type Basis =
  | { type: 'delegation'; id: string }
  | { type: 'approval'; id: string; approver?: string }
  | { type: 'client_credentials'; client_id: string }
  | { type: 'subject_token' };

export interface Hop {
  jti: string;
  issued_at: string;
  client_id?: string;
  actors: string[];
  audience?: string;
  scope?: string;
  status: 'active' | 'revoked' | 'expired';
  /** The token this one was exchanged from: a Mandate token (the next hop) or the IdP's (external). */
  parent?: { jti: string; issuer: 'mandate' | 'external' };
  allowed_by: Basis;
  event_id: string;
  trail: StoredEvent['trail'];
}

export interface Trace {
  token: Hop;
  /** From the token back to the root, the token first. */
  chain: Hop[];
  origin: Record<string, unknown> & { type: Basis['type'] };
  subject: { iss: string; sub: string; user?: { id: string; name: string; status: string } };
}

/** Longer than any act chain (max_delegation_depth ≤ 10): a guard against a cycle of forged pointers. */
const MAX_HOPS = 16;

export async function traceToken(jti: string, deps: TraceDeps): Promise<Trace | undefined> {
  const first = await deps.audit.tokenEvent(jti);
  if (!first) return undefined;
  const events = [first];
  for (let current = first; current.parent_jti && events.length < MAX_HOPS;) {
    const parent = await deps.audit.tokenEvent(current.parent_jti);
    if (!parent) break;
    events.push(parent);
    current = parent;
  }
  const chain = await Promise.all(events.map((event, i) => hopOf(event, events[i + 1] !== undefined, deps)));
  const root = events.at(-1)!;
  return { token: chain[0]!, chain, origin: await originOf(chain.at(-1)!, deps), subject: await subjectOf(root, deps) };
}

async function hopOf(event: StoredEvent, parentIsMandate: boolean, deps: TraceDeps): Promise<Hop> {
  const record = await deps.records.get(event.jti!);
  const status = record?.revoked_at !== undefined ? 'revoked' : deps.records.isActive(record) ? 'active' : 'expired';
  return {
    jti: event.jti!, issued_at: event.time,
    ...(event.client_id !== undefined ? { client_id: event.client_id } : {}),
    actors: event.actors ?? [],
    ...(event.audience !== undefined ? { audience: event.audience } : {}),
    ...(event.scope !== undefined ? { scope: event.scope } : {}),
    status,
    ...(event.parent_jti ? { parent: { jti: event.parent_jti, issuer: parentIsMandate ? 'mandate' : 'external' } } : {}),
    allowed_by: basisOf(event),
    event_id: event.id, trail: event.trail,
  };
}

function basisOf(event: StoredEvent): Basis {
  if (event.approval_id) return { type: 'approval', id: event.approval_id, ...(event.approver ? { approver: event.approver } : {}) };
  if (event.delegation_id) return { type: 'delegation', id: event.delegation_id };
  if (!event.actors?.length && event.client_id) return { type: 'client_credentials', client_id: event.client_id };
  return { type: 'subject_token' };
}

/** The root hop's basis, with what the registry and the approval still say about it. */
async function originOf(root: Hop, deps: TraceDeps): Promise<Trace['origin']> {
  const basis = root.allowed_by;
  if (basis.type === 'delegation') {
    const delegation = await deps.registry.read<DelegationRecord>('delegations', basis.id);
    if (!delegation) return { ...basis };
    const shown = {
      id: delegation.id, ...(delegation.user !== undefined ? { user: delegation.user } : {}), ...(delegation.subject ? { subject: delegation.subject } : {}),
      agent: delegation.agent, scopes: delegation.scopes, audiences: delegation.audiences, status: delegation.status, source: delegation.source,
      created_at: delegation.created_at, ...(delegation.expires_at ? { expires_at: delegation.expires_at } : {}),
      ...(delegation.revoked_at ? { revoked_at: delegation.revoked_at } : {}),
    };
    // A delegation created by a consent approval: the human decision is that approval.
    if (delegation.approval_id) return { type: 'approval', ...(await approvalOf(delegation.approval_id, delegation.user, deps)), consent: true, delegation: shown };
    return { type: 'delegation', ...shown };
  }
  if (basis.type === 'approval') return { type: 'approval', ...(await approvalOf(basis.id, basis.approver, deps)) };
  return { ...basis };
}

async function approvalOf(id: string, approver: string | undefined, deps: TraceDeps): Promise<Record<string, unknown>> {
  // Approval records are kept for a day after they expire; the trail keeps the decision longer.
  const approval = await deps.approvals.get(id);
  if (!approval) return { id, ...(approver ? { approver } : {}) };
  const iso = (s: number): string => new Date(s * 1000).toISOString();
  return {
    id, approver: approval.approver, reason: approval.reason, consent: approval.consent,
    ...(approval.decided_at !== undefined ? { decided_at: iso(approval.decided_at) } : {}),
    ...(approval.amr ? { amr: approval.amr } : {}),
  };
}

async function subjectOf(root: StoredEvent, deps: TraceDeps): Promise<Trace['subject']> {
  const subject = root.subject ?? { iss: deps.issuer, sub: root.client_id ?? '' };
  if (subject.iss !== deps.issuer) return { ...subject };
  const user = await deps.registry.read<UserRecord>('users', subject.sub);
  return { ...subject, ...(user ? { user: { id: user.id, name: user.name, status: user.status } } : {}) };
}

/**
 * The audit event of SPEC section 7: one per decision, the same shape in the store, the log and
 * the admin API. Only `id`, `time`, `type` and `outcome` are always present.
 */
export interface AuditEvent {
  id: string;
  time: string;
  type: string;
  outcome: 'success' | 'failure';
  reason?: string;
  request_id?: string;
  /** The human (or service) the decision is about, in Mandate's namespace when it is a Mandate user. */
  subject?: { iss: string; sub: string };
  /** Agent ids, outermost first. */
  actors?: string[];
  client_id?: string;
  audience?: string;
  scope?: string;
  jti?: string;
  parent_jti?: string;
  delegation_id?: string;
  approval_id?: string;
  approver?: string;
}

/** What a decision point hands to `audit.record()`: the trail adds `id` and `time`. */
export type AuditInput = Omit<AuditEvent, 'id' | 'time'>;

/** Where an event sits in the trail: its writer's chain and its position there (from 1). */
export interface TrailPosition {
  writer: string;
  position: number;
}

/** An event as the admin API lists it: the event and where it is in the trail. */
export type StoredEvent = AuditEvent & { trail: TrailPosition };

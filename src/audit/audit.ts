import { randomUUID } from 'node:crypto';

import type { Logger } from '../log.js';
import { auditEventKey } from '../store/keys.js';
import type { WriteOp } from '../store/store.js';

/**
 * Every decision is an event (SPEC section 7). Events are written to the store in the same
 * round trip as what they describe (`writeOps`), and to the log once stored (`"audit": true`).
 * The tamper-evident chain and queries come with the audit subsystem; the event shape is final.
 */
export interface AuditEvent {
  id: string;
  time: string;
  type: string;
  outcome: 'success' | 'failure';
  reason?: string;
  request_id?: string;
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

export type AuditInput = Omit<AuditEvent, 'id' | 'time'>;

/** How long events stay in the store. */
export const AUDIT_RETENTION_SECONDS = 400 * 24 * 3600;

export interface AuditLog {
  /** Builds the event and the store writes for it, to be sent with the writes it describes. */
  prepare(input: AuditInput): { event: AuditEvent; ops: WriteOp[] };
  /** Logs an event whose writes have been stored. */
  logged(event: AuditEvent): void;
}

export function createAuditLog(logger: Logger, now: () => Date = () => new Date()): AuditLog {
  return {
    prepare(input) {
      const event: AuditEvent = { id: randomUUID(), time: now().toISOString(), ...input };
      return { event, ops: [{ op: 'set', key: auditEventKey(event.id), value: JSON.stringify(event), ttlSeconds: AUDIT_RETENTION_SECONDS }] };
    },
    logged(event) {
      logger.info({ audit: true, event }, event.type);
    },
  };
}

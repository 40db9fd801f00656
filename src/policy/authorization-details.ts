import { isDeepStrictEqual } from 'node:util';

import { fail, ok, type AuthorizationDetail, type Result } from '../exchange/types.js';

const MAX_BYTES = 4096;
const MAX_ITEMS = 10;
const AGENT_TASK_FIELDS = new Set(['type', 'task_id', 'description', 'amount', 'locations', 'actions']);

const bad = (description: string): Result<never> => fail('invalid_authorization_details', `authorization_details ${description}`);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && x.length <= 512);

/** `agent_task` (Mandate's task type): task_id, and optional description, amount, locations, actions. */
function checkAgentTask(detail: Record<string, unknown>, i: number): Result<void> {
  const unknown = Object.keys(detail).find((k) => !AGENT_TASK_FIELDS.has(k));
  if (unknown !== undefined) return bad(`[${i}]: agent_task does not accept ${unknown}`);
  const taskId = detail.task_id;
  if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > 128) return bad(`[${i}]: agent_task needs a task_id string of 1 to 128 characters`);
  if (detail.description !== undefined && (typeof detail.description !== 'string' || detail.description.length > 512)) return bad(`[${i}]: description must be a string of at most 512 characters`);
  if (detail.amount !== undefined) {
    const amount = detail.amount as Record<string, unknown> | null;
    if (typeof amount !== 'object' || amount === null || typeof amount.value !== 'string' || !/^\d{1,15}(\.\d{1,6})?$/.test(amount.value)
      || typeof amount.currency !== 'string' || !/^[A-Z]{3}$/.test(amount.currency) || Object.keys(amount).length !== 2) {
      return bad(`[${i}]: amount must be { value: "123.45", currency: "EUR" }`);
    }
  }
  for (const field of ['locations', 'actions'] as const) {
    if (detail[field] !== undefined && !isStringList(detail[field])) return bad(`[${i}]: ${field} must be a list of strings`);
  }
  return ok(undefined);
}

/** RFC 9396: a JSON array of typed objects; types are agent_task or those the resource declares. */
export function parseAuthorizationDetails(raw: string | undefined, allowedTypes: readonly string[]): Result<AuthorizationDetail[] | undefined> {
  if (raw === undefined) return ok(undefined);
  if (Buffer.byteLength(raw) > MAX_BYTES) return bad(`exceeds ${MAX_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return bad('is not valid JSON');
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > MAX_ITEMS) return bad(`must be a JSON array of 1 to ${MAX_ITEMS} objects`);
  for (const [i, item] of parsed.entries()) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return bad(`[${i}] must be an object`);
    const { type } = item as Record<string, unknown>;
    if (typeof type !== 'string') return bad(`[${i}] needs a string type`);
    if (type === 'agent_task') {
      const checked = checkAgentTask(item as Record<string, unknown>, i);
      if (!checked.ok) return checked;
    } else if (!allowedTypes.includes(type)) {
      return bad(`[${i}]: type ${JSON.stringify(type).slice(0, 70)} is not accepted for this target`);
    }
  }
  return ok(parsed as AuthorizationDetail[]);
}

/** A task cannot be widened or swapped mid-chain: requested details must be among the inherited ones. */
export function narrowAuthorizationDetails(requested?: AuthorizationDetail[], inherited?: AuthorizationDetail[]): Result<AuthorizationDetail[] | undefined> {
  if (requested === undefined) return ok(inherited);
  if (inherited === undefined) return ok(requested);
  const outside = requested.findIndex((r) => !inherited.some((i) => isDeepStrictEqual(r, i)));
  if (outside >= 0) return bad(`[${outside}] is not part of the task of subject_token`);
  return ok(requested);
}

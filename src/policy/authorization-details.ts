import { isDeepStrictEqual } from 'node:util';

import { fail, ok, type AuthorizationDetail, type Result } from '../exchange/types.js';
import { visible } from './scope.js';

/** Limits on the `authorization_details` parameter: checked before and after parsing. */
const MAX_BYTES = 4096;
const MAX_ITEMS = 10;
const MAX_TASK_ID = 128;
const MAX_TEXT = 512;
const AGENT_TASK_FIELDS = new Set(['type', 'task_id', 'description', 'amount', 'locations', 'actions']);

const bad = (description: string): Result<never> => fail('invalid_authorization_details', `authorization_details ${description}`);
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length <= MAX_TEXT;
const isAbsoluteUri = (value: unknown): boolean => isText(value) && URL.canParse(value);

/** `amount`: exactly { value: a non-negative decimal string, currency: an ISO 4217 code }. */
function isAmount(value: unknown): boolean {
  return isObject(value) && Object.keys(value).length === 2
    && typeof value.value === 'string' && /^\d{1,15}(\.\d{1,6})?$/.test(value.value)
    && typeof value.currency === 'string' && /^[A-Z]{3}$/.test(value.currency);
}

/**
 * `agent_task` (Mandate's task type): task_id, and optional description, amount, locations,
 * actions. Closed: an unknown member is refused, since a resource server would not know to
 * enforce it and the approver would not be shown it.
 */
function checkAgentTask(detail: Record<string, unknown>, at: string): Result<void> {
  const unknown = Object.keys(detail).find((k) => !AGENT_TASK_FIELDS.has(k));
  if (unknown !== undefined) return bad(`${at}: agent_task does not accept ${visible(unknown)}`);
  const { task_id: taskId, description, amount, locations, actions } = detail;
  if (typeof taskId !== 'string' || taskId.length === 0 || taskId.length > MAX_TASK_ID) {
    return bad(`${at}: agent_task needs a task_id string of 1 to ${MAX_TASK_ID} characters`);
  }
  if (description !== undefined && (typeof description !== 'string' || description.length > MAX_TEXT)) {
    return bad(`${at}: description must be a string of at most ${MAX_TEXT} characters`);
  }
  if (amount !== undefined && !isAmount(amount)) {
    return bad(`${at}: amount must be { value: a decimal string such as 123.45, currency: three capital letters such as EUR }`);
  }
  if (locations !== undefined && !(Array.isArray(locations) && locations.every(isAbsoluteUri))) {
    return bad(`${at}: locations must be a list of absolute URIs`);
  }
  if (actions !== undefined && !(Array.isArray(actions) && actions.every(isText))) {
    return bad(`${at}: actions must be a list of strings`);
  }
  return ok(undefined);
}

/** RFC 9396: a JSON array of typed objects; types are agent_task or those the target declares. */
export function parseAuthorizationDetails(raw: string | undefined, allowedTypes: readonly string[]): Result<AuthorizationDetail[] | undefined> {
  if (raw === undefined) return ok(undefined);
  // Size first: nothing larger is parsed at all.
  if (Buffer.byteLength(raw, 'utf8') > MAX_BYTES) return bad(`exceeds ${MAX_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return bad('is not valid JSON');
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > MAX_ITEMS) return bad(`must be a JSON array of 1 to ${MAX_ITEMS} objects`);
  for (const [i, item] of parsed.entries()) {
    const at = `[${i}]`;
    if (!isObject(item)) return bad(`${at} must be an object`);
    const { type } = item;
    if (typeof type !== 'string' || type === '') return bad(`${at} needs a string type`);
    if (type === 'agent_task') {
      const checked = checkAgentTask(item, at);
      if (!checked.ok) return checked;
    } else if (!allowedTypes.includes(type)) {
      return bad(`${at}: type ${visible(type)} is not accepted for this target`);
    }
  }
  return ok(parsed as AuthorizationDetail[]);
}

/**
 * A task cannot be widened or swapped mid-chain: with a task inherited from the subject token,
 * every requested detail must equal one of the inherited ones. An empty list is treated as none,
 * so that it cannot be used to drop the inherited task.
 */
export function narrowAuthorizationDetails(requested?: AuthorizationDetail[], inherited?: AuthorizationDetail[]): Result<AuthorizationDetail[] | undefined> {
  if (requested === undefined || requested.length === 0) return ok(inherited);
  if (inherited === undefined || inherited.length === 0) return ok(requested);
  const outside = requested.findIndex((r) => !inherited.some((i) => isDeepStrictEqual(r, i)));
  if (outside >= 0) return bad(`[${outside}] is not part of the task of subject_token`);
  return ok(requested);
}

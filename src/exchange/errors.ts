import { MandateError } from '../errors.js';
import type { PolicyError, Result } from './types.js';

/** A refused exchange, carrying the audit reason alongside the OAuth error. */
export class ExchangeRefused extends MandateError {
  readonly reason: string;
  constructor(error: PolicyError) {
    // invalid_client is 401 (RFC 6749 section 5.2); every other refusal is 400.
    super(error.error === 'invalid_client' ? 401 : 400, error.error, error.description);
    this.reason = error.reason ?? error.error;
  }
}

/** Unwraps a policy result or throws its refusal. */
export function must<T>(result: Result<T>): T {
  if (!result.ok) throw new ExchangeRefused(result.error);
  return result.value;
}

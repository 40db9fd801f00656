/**
 * One error type for everything a client can cause or see. Its shape matches oidc-provider's own
 * errors (`message` = the OAuth error code, `statusCode`, `expose`, `error_description`) so that
 * an error thrown inside a grant handler or adapter renders the same way as one thrown in our
 * own routes: `{ error, error_description }` with the right status, never a stack.
 */
export class MandateError extends Error {
  readonly error: string;
  readonly error_description: string;
  readonly status: number;
  readonly statusCode: number;
  readonly expose = true;
  readonly headers: Record<string, string>;

  constructor(status: number, error: string, description: string, headers: Record<string, string> = {}) {
    super(error);
    this.name = 'MandateError';
    this.error = error;
    this.error_description = description;
    this.status = status;
    this.statusCode = status;
    this.headers = headers;
  }

  toJSON(): { error: string; error_description: string } {
    return { error: this.error, error_description: this.error_description };
  }
}

/** Seconds a client should wait before retrying when the store is down. */
export const RETRY_AFTER_SECONDS = 1;

/** The store (Redis) cannot be reached: fail closed with 503 temporarily_unavailable. */
export class StoreUnavailableError extends MandateError {
  constructor(detail = 'the token store is unreachable') {
    super(503, 'temporarily_unavailable', `${detail}; retry later`, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    this.name = 'StoreUnavailableError';
  }
}

/**
 * A log append found another end than it expected (see `WriteOp` `append`): nothing was appended.
 * Transient for a client (503): the writer re-reads the log's end and carries on.
 */
export class LogConflictError extends StoreUnavailableError {
  constructor() {
    super('the audit trail moved under this writer');
    this.name = 'LogConflictError';
  }
}

export const invalidRequest = (description: string): MandateError => new MandateError(400, 'invalid_request', description);
export const invalidScope = (description: string): MandateError => new MandateError(400, 'invalid_scope', description);
export const invalidTarget = (description: string): MandateError => new MandateError(400, 'invalid_target', description);
export const unauthorizedClient = (description: string): MandateError => new MandateError(400, 'unauthorized_client', description);

import { MandateError } from '../errors.js';

/**
 * A refusal of a registry change, naming the field at fault. The admin API renders it as
 * `{error, error_description, field}`; nothing has been written when one is thrown.
 */
export class RegistryError extends MandateError {
  readonly field: string | undefined;

  constructor(status: 400 | 404 | 409, error: string, description: string, field?: string) {
    super(status, error, description);
    this.name = 'RegistryError';
    this.field = field;
  }

  override toJSON(): { error: string; error_description: string; field?: string } {
    return { ...super.toJSON(), ...(this.field !== undefined ? { field: this.field } : {}) };
  }
}

/** 400: the request names something wrong in `field`. */
export const invalidField = (field: string, problem: string): RegistryError =>
  new RegistryError(400, 'invalid_request', `${field}: ${problem}`, field);

/** 404: no such record. */
export const notFound = (kind: string, id: string): RegistryError => new RegistryError(404, 'not_found', `no ${kind} with id ${id}`);

/** 409: the change conflicts with what exists (a taken id, a state that forbids it). */
export const conflict = (description: string, field?: string): RegistryError => new RegistryError(409, 'conflict', description, field);

/** One catalogue of typed errors; the HTTP layer maps them to RFC 9457 problem+json in one place. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export class NotFoundError extends AppError {
  constructor(resource: string, id: string) {
    super(`${resource.toUpperCase()}_NOT_FOUND`, 404, `${resource} ${id} does not exist`);
  }
}

export class ConflictError extends AppError {
  constructor(code: string, message: string, extra: Record<string, unknown> = {}) {
    super(code, 409, message, extra);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, errors: Array<{ path: string; message: string; code?: string }> = []) {
    super('VALIDATION_FAILED', 400, message, { errors });
  }
}

export class UnavailableError extends AppError {
  /** Sent as Retry-After when set: the condition is known to be temporary. */
  constructor(
    code: string,
    message: string,
    readonly retryAfterSec?: number,
  ) {
    super(code, 503, message);
  }
}

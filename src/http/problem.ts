import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  AppError,
  DatabaseUnavailableError,
  ERROR_CATALOGUE,
  type ErrorCode,
  type ErrorItem,
} from '../errors.ts';
import { RuntimeError, type RuntimeErrorCode } from '../runtime/index.ts';
import { isDatabaseUnavailable, isNulInText } from '../store/sql-errors.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: ErrorCode;
  errors?: ErrorItem[];
  [extra: string]: unknown;
}

// Fastify's own error codes, mapped once to berth's stable codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_BAD_URL: 'VALIDATION_FAILED',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_CONTENT_LENGTH',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
};

// The runtime layer names its codes itself; this checks that each one is in the catalogue.
const RUNTIME_CODES: Record<RuntimeErrorCode, ErrorCode> = {
  RUNTIME_UNAVAILABLE: 'RUNTIME_UNAVAILABLE',
  INVALID_RUN_SPEC: 'INVALID_RUN_SPEC',
  RUNTIME_COMMAND_FAILED: 'RUNTIME_COMMAND_FAILED',
};

/** A problem lists at most this many validation errors (plus `errorCount`), so a hostile body cannot inflate the answer. */
export const MAX_LISTED_ERRORS = 20;

// A property name is client text of any length: paths are cut so each listed error stays small.
const clip = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

function listed(errors: ErrorItem[]): { errors: ErrorItem[]; errorCount?: number } {
  if (errors.length <= MAX_LISTED_ERRORS) return { errors };
  return { errors: errors.slice(0, MAX_LISTED_ERRORS), errorCount: errors.length };
}

/** Problem details for a catalogue code: status and title always come from the catalogue. */
export function problem(code: ErrorCode, detail?: string, extra: Record<string, unknown> = {}): Problem {
  const { status, title } = ERROR_CATALOGUE[code];
  return {
    type: `urn:berth:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    code,
    ...(detail ? { detail } : {}),
    ...extra,
  };
}

/** Turns any thrown error into problem details; 5xx causes are logged, never sent. */
export function toProblem(err: unknown, request: FastifyRequest): Problem {
  if (isDatabaseUnavailable(err)) {
    request.log.warn({ err }, 'database unavailable');
    err = new DatabaseUnavailableError('the database is unavailable; retry shortly');
  }
  if (err instanceof AppError) {
    const errors = err.extra.errors as ErrorItem[] | undefined;
    return problem(err.code, err.message, {
      ...err.extra,
      ...(Array.isArray(errors) ? listed(errors) : {}),
    });
  }
  if (err instanceof RuntimeError) {
    if (err.code === 'RUNTIME_COMMAND_FAILED') request.log.error({ err }, 'runtime command failed');
    return problem(RUNTIME_CODES[err.code], err.message, err.extra);
  }
  const fe = err as FastifyError & {
    validation?: Array<{
      instancePath: string;
      message?: string;
      keyword: string;
      params?: Record<string, unknown>;
    }>;
  };
  if (fe.validation) {
    const where = fe.validationContext ?? 'request';
    const errors = fe.validation.slice(0, MAX_LISTED_ERRORS).map((v) => ({
      path: clip(
        `${where}${v.instancePath || (v.params?.missingProperty ? `/${String(v.params.missingProperty)}` : '')}${v.params?.additionalProperty ? `/${String(v.params.additionalProperty)}` : ''}`,
      ),
      message: v.message ?? v.keyword,
      code: v.keyword,
    }));
    const more = fe.validation.length - errors.length;
    return problem(
      'VALIDATION_FAILED',
      `${where} is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      { errors, ...(more > 0 ? { errorCount: fe.validation.length } : {}) },
    );
  }
  // Path, query and header values are pattern-checked, so only a body can carry a NUL this far.
  if (isNulInText(err)) {
    const errors = [{ path: 'body', message: 'must not contain NUL (U+0000) characters', code: 'nul' }];
    return problem('VALIDATION_FAILED', 'body is invalid: text must not contain NUL characters', {
      errors,
    });
  }
  if (err instanceof SyntaxError || (fe.code && FASTIFY_CODES[fe.code])) {
    return problem((fe.code && FASTIFY_CODES[fe.code]) || 'INVALID_JSON', fe.message);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problem('BAD_REQUEST', fe.message);
  }
  request.log.error({ err }, 'unhandled error');
  return problem('INTERNAL', 'an unexpected error occurred; it has been logged');
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  if (typeof p.retryAfter === 'number') reply.header('retry-after', String(p.retryAfter));
  return reply.code(p.status).type('application/problem+json').send(p);
}

import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, DatabaseUnavailableError } from '../errors.ts';
import { isDatabaseUnavailable, isNulInText } from '../store/sql-errors.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: string;
  errors?: Array<{ path: string; message: string; code?: string }>;
  [extra: string]: unknown;
}

// Fastify's own error codes, mapped once to berth's stable codes.
const FASTIFY_CODES: Record<string, { status: number; code: string }> = {
  FST_ERR_BAD_URL: { status: 400, code: 'VALIDATION_FAILED' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_CONTENT_LENGTH' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON' },
};

export function problem(
  status: number,
  code: string,
  detail?: string,
  extra: Record<string, unknown> = {},
): Problem {
  return {
    type: `urn:berth:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: STATUS_CODES[status] ?? 'Error',
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
  if (err instanceof AppError) return problem(err.status, err.code, err.message, err.extra);
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
    const errors = fe.validation.map((v) => ({
      path: `${where}${v.instancePath || (v.params?.missingProperty ? `/${String(v.params.missingProperty)}` : '')}${v.params?.additionalProperty ? `/${String(v.params.additionalProperty)}` : ''}`,
      message: v.message ?? v.keyword,
      code: v.keyword,
    }));
    return problem(
      400,
      'VALIDATION_FAILED',
      `${where} is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}`,
      { errors },
    );
  }
  // Path, query and header values are pattern-checked, so only a body can carry a NUL this far.
  if (isNulInText(err)) {
    const errors = [{ path: 'body', message: 'must not contain NUL (U+0000) characters', code: 'nul' }];
    return problem(400, 'VALIDATION_FAILED', 'body is invalid: text must not contain NUL characters', {
      errors,
    });
  }
  if (err instanceof SyntaxError || (fe.code && FASTIFY_CODES[fe.code])) {
    const mapped = (fe.code && FASTIFY_CODES[fe.code]) || { status: 400, code: 'INVALID_JSON' };
    return problem(mapped.status, mapped.code, fe.message);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problem(fe.statusCode, 'BAD_REQUEST', fe.message);
  }
  request.log.error({ err }, 'unhandled error');
  return problem(500, 'INTERNAL', 'an unexpected error occurred; it has been logged');
}

export function sendProblem(reply: FastifyReply, p: Problem): FastifyReply {
  if (typeof p.retryAfter === 'number') reply.header('retry-after', String(p.retryAfter));
  return reply.code(p.status).type('application/problem+json').send(p);
}

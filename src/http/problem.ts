import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import { isNulInText } from '../store/sql-errors.ts';

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

/** A problem lists at most this many validation errors (plus `errorCount`), so a hostile body cannot inflate the answer. */
export const MAX_LISTED_ERRORS = 20;

type ErrorItem = { path: string; message: string; code?: string };

// A property name is client text of any length: paths are cut so each listed error stays small.
const clip = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

function listed(errors: ErrorItem[]): { errors: ErrorItem[]; errorCount?: number } {
  if (errors.length <= MAX_LISTED_ERRORS) return { errors };
  return { errors: errors.slice(0, MAX_LISTED_ERRORS), errorCount: errors.length };
}

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
  if (err instanceof AppError) {
    const errors = err.extra.errors as ErrorItem[] | undefined;
    return problem(err.status, err.code, err.message, {
      ...err.extra,
      ...(Array.isArray(errors) ? listed(errors) : {}),
    });
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
      400,
      'VALIDATION_FAILED',
      `${where} is invalid: ${errors.map((e) => `${e.path} ${e.message}`).join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      { errors, ...(more > 0 ? { errorCount: fe.validation.length } : {}) },
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
  return reply.code(p.status).type('application/problem+json').send(p);
}

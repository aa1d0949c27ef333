import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request carried the API token; public routes use it to decide what they reveal. */
    authenticated: boolean;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

export class UnauthorizedError extends AppError {
  constructor(message: string) {
    super('UNAUTHORIZED', message);
  }
}

/**
 * The bearer token from the Authorization header; for browsers' WebSocket, which cannot set headers,
 * also from the `access_token` query parameter or a `bearer.<token>` subprotocol.
 */
export function presentedToken(request: FastifyRequest, allowBrowserFallbacks: boolean): string | undefined {
  const header = request.headers.authorization;
  if (header) return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
  if (!allowBrowserFallbacks) return undefined;
  const query = (request.query as Record<string, unknown> | undefined)?.access_token;
  if (typeof query === 'string') return query;
  const protocols = request.headers['sec-websocket-protocol'];
  const bearer = protocols
    ?.split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith('bearer.'));
  return bearer?.slice('bearer.'.length);
}

export function makeAuthCheck(
  token: string,
): (request: FastifyRequest, allowBrowserFallbacks: boolean) => void {
  const expected = digest(token);
  return (request, allowBrowserFallbacks) => {
    const given = presentedToken(request, allowBrowserFallbacks);
    if (given === undefined)
      throw new UnauthorizedError('missing bearer token (Authorization: Bearer <token>)');
    // Compare digests so the comparison takes the same time whatever the length.
    if (!timingSafeEqual(digest(given), expected)) throw new UnauthorizedError('invalid bearer token');
  };
}

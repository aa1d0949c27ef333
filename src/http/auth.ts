import type { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { findKey, type KeyRole, touchKey } from '../store/keys.ts';
import { parseToken, secretMatches } from './keys/secret.ts';
import type { Role } from './spec.ts';
import { SUBPROTOCOL } from './stream/protocol.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Who is calling: an API key, or the bootstrap admin token (`keyId` null). */
export interface Principal {
  keyId: string | null;
  /** The key id, or `bootstrap`: what the audit trail records. */
  actor: string;
  role: KeyRole;
  /** Null: every group. */
  groupIds: string[] | null;
  expiresAt: Date | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every non-public route. */
    principal: Principal | null;
  }
}

export const BOOTSTRAP = 'bootstrap';
const RANK: Record<Role, number> = { public: 0, viewer: 1, operator: 2, admin: 3 };
/** Last-used times are written at most this often per key. */
const TOUCH_EVERY_MS = 60_000;

export class UnauthorizedError extends AppError {
  constructor(message: string) {
    super('UNAUTHORIZED', message);
  }
}

/** How a browser opens a berth WebSocket without putting the key in a URL (README and openapi.yaml). */
export const BROWSER_SNIPPET = `new WebSocket(url, ['${SUBPROTOCOL}', 'bearer.' + key])`;

/**
 * The bearer token from the Authorization header; for browsers' WebSocket, which cannot set headers,
 * also from the `access_token` query parameter or a `bearer.<token>` subprotocol offered with berth.v1.
 */
export function presentedToken(request: FastifyRequest, allowBrowserFallbacks: boolean): string | undefined {
  const header = request.headers.authorization;
  if (header) return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
  if (!allowBrowserFallbacks) return undefined;
  const query = (request.query as Record<string, unknown> | undefined)?.access_token;
  if (typeof query === 'string') return query;
  const offered = request.headers['sec-websocket-protocol']?.split(',').map((p) => p.trim()) ?? [];
  const bearer = offered.find((p) => p.startsWith('bearer.'));
  if (bearer === undefined) return undefined;
  // The bearer offer is never echoed, and a browser fails a handshake that selects none of its offers.
  if (!offered.includes(SUBPROTOCOL))
    throw new AppError('BAD_REQUEST', `offer ${SUBPROTOCOL} with the bearer subprotocol: ${BROWSER_SNIPPET}`);
  return bearer.slice('bearer.'.length);
}

export interface AuthDeps {
  bootstrapToken: string;
  pepper: Buffer;
  db: Db;
  log: FastifyBaseLogger;
}

/** Resolves the caller of a request from its token; throws 401 for a missing, unknown, wrong or expired one. */
export function makeAuthenticator(deps: AuthDeps) {
  const bootstrap = digest(deps.bootstrapToken);
  const touched = new Map<string, number>();
  const admin: Principal = { keyId: null, actor: BOOTSTRAP, role: 'admin', groupIds: null, expiresAt: null };
  return async (request: FastifyRequest, allowBrowserFallbacks: boolean): Promise<Principal> => {
    const given = presentedToken(request, allowBrowserFallbacks);
    if (given === undefined)
      throw new UnauthorizedError('missing bearer token (Authorization: Bearer <token>)');
    const parsed = parseToken(given);
    if (!parsed) {
      // Compare digests so the comparison takes the same time whatever the length.
      if (!timingSafeEqual(digest(given), bootstrap)) throw new UnauthorizedError('invalid bearer token');
      return admin;
    }
    const row = await findKey(deps.db, parsed.id);
    if (!row || !secretMatches(deps.pepper, parsed.secret, row.secretHash))
      throw new UnauthorizedError('invalid bearer token');
    const now = new Date();
    if (row.expiresAt && row.expiresAt <= now)
      throw new AppError('KEY_EXPIRED', `key ${row.id} expired at ${row.expiresAt.toISOString()}`);
    // At most one write per key and interval from this instance; awaited, so the list shows it at once.
    if (now.getTime() - (touched.get(row.id) ?? 0) >= TOUCH_EVERY_MS) {
      touched.set(row.id, now.getTime());
      await touchKey(deps.db, row.id, now, TOUCH_EVERY_MS);
    }
    return { keyId: row.id, actor: row.id, role: row.role, groupIds: row.groupIds, expiresAt: row.expiresAt };
  };
}

/** The caller of a non-public route (the auth hook has set it). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal)
    throw new Error(`${request.routeOptions.url} has no principal: is the route public?`);
  return request.principal;
}

/** 403 unless the principal's role is at least the operation's. */
export function authorize(principal: Principal, needed: Role, operationId: string): void {
  if (RANK[principal.role] < RANK[needed])
    throw new AppError('FORBIDDEN', `${operationId} needs the ${needed} role; this key is ${principal.role}`);
}

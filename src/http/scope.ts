import type { FastifyRequest } from 'fastify';
import { NotFoundError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { findSessionGroup } from '../store/sessions.ts';
import type { Operation } from './spec.ts';

/**
 * How a path parameter names a group: each resolver returns the group a resource belongs to, or
 * undefined when it does not exist. Resources of groups outside a key's scope answer the same 404 as
 * missing ones, so their existence is not revealed. A new group-owned resource adds its parameter here.
 */
const RESOLVERS: Record<
  string,
  { resource: 'group' | 'session'; group(db: Db, id: string): Promise<string | undefined> }
> = {
  groupId: { resource: 'group', group: async (_db, id) => id },
  sessionId: { resource: 'session', group: findSessionGroup },
};

/** The groups the caller may see; undefined when it sees every group. */
export function groupScope(request: FastifyRequest): string[] | undefined {
  return request.principal?.groupIds ?? undefined;
}

/** Refuses at start-up a group-level operation whose path has no parameter that names a group. */
export function assertScopable(op: Operation): void {
  if (op.role === 'admin' || op.role === 'public') return;
  const params = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  if (params.length > 0 && !params.some((p) => p in RESOLVERS))
    throw new Error(
      `operation ${op.operationId} (${op.role}) has path parameters but none that names a group: add a resolver in src/http/scope.ts`,
    );
}

/**
 * preHandler: a key limited to groups gets 404 for any group or session of another group, named in
 * the path, the query (`groupId`) or the body (`groupId`). Runs after validation, so ids are well-formed.
 */
export function makeScopeCheck(db: Db) {
  return async (request: FastifyRequest): Promise<void> => {
    const scope = groupScope(request);
    if (!scope) return;
    const allowed = (groupId: string | undefined) => groupId !== undefined && scope.includes(groupId);
    const params = (request.params ?? {}) as Record<string, unknown>;
    for (const [name, value] of Object.entries(params)) {
      const resolver = RESOLVERS[name];
      if (!resolver || typeof value !== 'string') continue;
      if (!allowed(await resolver.group(db, value))) throw new NotFoundError(resolver.resource, value);
    }
    for (const part of [request.query, request.body]) {
      const groupId = (part as Record<string, unknown> | undefined)?.groupId;
      if (typeof groupId === 'string' && !allowed(groupId)) throw new NotFoundError('group', groupId);
    }
  };
}

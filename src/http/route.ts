import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type Operation, operations } from './spec.ts';

let cached: Map<string, Operation> | undefined;

export function contract(): Map<string, Operation> {
  cached ??= operations();
  return cached;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Registers a handler for an operation of openapi.yaml: method, URL and request schemas come from the contract. */
export function route(app: FastifyInstance, operationId: string, handler: Handler): void {
  const op = contract().get(operationId);
  if (!op) throw new Error(`operation ${operationId} is not in openapi.yaml`);
  app.route({
    method: op.method as 'GET',
    url: op.url,
    schema: op.schema,
    config: { operationId, public: op.public },
    handler,
  });
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Pages fetched with limit + 1 rows: the extra row only says whether another page exists. */
export function page<R extends { id: string }, T>(rows: R[], limit: number, present: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit);
  return { items: items.map(present), nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

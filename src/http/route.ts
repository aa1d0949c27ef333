import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { AppError } from '../errors.ts';
import { problem, sendProblem } from './problem.ts';
import { type Operation, operations } from './spec.ts';

let cached: Map<string, Operation> | undefined;

export function contract(): Map<string, Operation> {
  cached ??= operations();
  return cached;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

// Fastify would also parse text/plain, which then fails as a schema error; the contract takes JSON only.
async function requireJson(request: FastifyRequest): Promise<void> {
  const type = request.headers['content-type'];
  if (type === undefined || type.split(';')[0]!.trim().toLowerCase() === 'application/json') return;
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', 415, `request bodies must be application/json, not "${type}"`);
}

/** Registers a handler for an operation of openapi.yaml: method, URL and request schemas come from the contract. */
export function route(app: FastifyInstance, operationId: string, handler: Handler): void {
  const op = contract().get(operationId);
  if (!op) throw new Error(`operation ${operationId} is not in openapi.yaml`);
  app.route({
    method: op.method as 'GET',
    url: op.url,
    schema: op.schema,
    config: { operationId, public: op.public },
    ...(op.schema.body ? { onRequest: requireJson } : {}),
    handler,
  });
}

/**
 * Registers a WebSocket operation of openapi.yaml (a GET): hooks and validation answer before the upgrade,
 * `socket` runs once upgraded, `http` answers a plain request. Its config lets auth accept browser fallbacks.
 */
export function socketRoute(
  app: FastifyInstance,
  operationId: string,
  handlers: {
    preHandler?: Handler;
    http: Handler;
    socket: (socket: WebSocket, request: FastifyRequest) => void;
  },
): void {
  const op = contract().get(operationId);
  if (!op) throw new Error(`operation ${operationId} is not in openapi.yaml`);
  if (op.method !== 'GET') throw new Error(`WebSocket operation ${operationId} must be a GET`);
  app.route({
    method: 'GET',
    url: op.url,
    schema: op.schema,
    config: { operationId, public: op.public, websocket: true },
    ...(handlers.preHandler ? { preHandler: handlers.preHandler } : {}),
    handler: handlers.http,
    wsHandler: (socket, request) => handlers.socket(socket, request),
  });
}

/** The plain-HTTP answer of a WebSocket operation. */
export const upgradeRequired: Handler = async (_request, reply) => {
  reply.header('upgrade', 'websocket');
  return sendProblem(
    reply,
    problem(
      426,
      'UPGRADE_REQUIRED',
      'this endpoint is a WebSocket; connect with an Upgrade: websocket request',
    ),
  );
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Pages fetched with limit + 1 rows: the extra row only says whether another page exists. */
export function page<R extends { id: string }, T>(rows: R[], limit: number, present: (row: R) => T): Page<T> {
  const items = rows.slice(0, limit);
  return { items: items.map(present), nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

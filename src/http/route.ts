import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { AppError } from '../errors.ts';
import type { operations } from './api.d.ts';
import { problem, sendProblem } from './problem.ts';
import { assertScopable } from './scope.ts';
import { operations as contractOperations, type Operation, type Role } from './spec.ts';

/** Every operationId of openapi.yaml; route types below come from src/http/api.d.ts (generated). */
export type OperationId = keyof operations;
type Op<K extends OperationId> = operations[K];
type Part<K extends OperationId, W extends 'path' | 'query' | 'header'> = Exclude<
  Op<K>['parameters'][W],
  undefined
>;
/** Query parameters whose contract default Fastify fills in, so handlers always see them set. */
export const DEFAULTED_QUERY = ['limit', 'after', 'wait'] as const;
type Defaulted<Q> = Omit<Q, (typeof DEFAULTED_QUERY)[number]> & {
  [P in keyof Q & (typeof DEFAULTED_QUERY)[number]]-?: Exclude<Q[P], undefined>;
};
type LowerKeys<H> = { [P in keyof H as Lowercase<P & string>]: H[P] };
type JsonOf<T> = T extends { content: { 'application/json': infer B } } ? B : never;
type Body<K extends OperationId> = JsonOf<Exclude<Op<K>['requestBody'], undefined>>;
type Success<R> = { [S in keyof R]: S extends 200 | 201 | 202 ? JsonOf<R[S]> : never }[keyof R];
/** What a handler may return: a success body of the contract, or nothing for 204s and hand-sent replies. */
export type ResponseOf<K extends OperationId> = Success<Op<K>['responses']> | undefined;

export type RequestOf<K extends OperationId> = FastifyRequest<{
  Params: Part<K, 'path'>;
  Querystring: Defaulted<Part<K, 'query'>>;
  Headers: LowerKeys<Part<K, 'header'>>;
  Body: Body<K>;
}>;

let cached: Map<string, Operation> | undefined;

export function contract(): Map<string, Operation> {
  cached ??= contractOperations();
  return cached;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** What the auth hook reads from each route: the operation and the role the contract gives it. */
export interface RouteConfig {
  operationId: string;
  role: Role;
  websocket?: boolean;
}

function operation(operationId: string): Operation {
  const op = contract().get(operationId);
  if (!op) throw new Error(`operation ${operationId} is not in openapi.yaml`);
  assertScopable(op);
  return op;
}

// Fastify would also parse text/plain, which then fails as a schema error; the contract takes JSON only.
async function requireJson(request: FastifyRequest): Promise<void> {
  const type = request.headers['content-type'];
  if (type === undefined || type.split(';')[0]!.trim().toLowerCase() === 'application/json') return;
  throw new AppError('UNSUPPORTED_MEDIA_TYPE', `request bodies must be application/json, not "${type}"`);
}

/**
 * Registers a handler for an operation of openapi.yaml: method, URL and request schemas come from the
 * contract, and so do the handler's request and response types.
 */
export function route<K extends OperationId>(
  app: FastifyInstance,
  operationId: K,
  // biome-ignore lint/suspicious/noConfusingVoidType: 204 handlers return nothing
  handler: (request: RequestOf<K>, reply: FastifyReply) => Promise<ResponseOf<K> | FastifyReply | void>,
): void {
  const op = operation(operationId);
  app.route({
    method: op.method as 'GET',
    url: op.url,
    schema: op.schema,
    config: { operationId, role: op.role } satisfies RouteConfig,
    ...(op.schema.body ? { onRequest: requireJson } : {}),
    handler: handler as Handler,
  });
}

/**
 * Registers a WebSocket operation of openapi.yaml (a GET): hooks and validation answer before the upgrade,
 * `socket` runs once upgraded, `http` answers a plain request. Its config lets auth accept browser fallbacks.
 */
export function socketRoute<K extends OperationId>(
  app: FastifyInstance,
  operationId: K,
  handlers: {
    preHandler?: (request: RequestOf<K>, reply: FastifyReply) => Promise<unknown>;
    http: Handler;
    socket: (socket: WebSocket, request: RequestOf<K>) => void;
  },
): void {
  const op = operation(operationId);
  if (op.method !== 'GET') throw new Error(`WebSocket operation ${operationId} must be a GET`);
  app.route({
    method: 'GET',
    url: op.url,
    schema: op.schema,
    config: { operationId, role: op.role, websocket: true } satisfies RouteConfig,
    ...(handlers.preHandler ? { preHandler: handlers.preHandler as Handler } : {}),
    handler: handlers.http,
    wsHandler: (socket, request) => {
      // Tracked per key, so revoking or expiring the key closes the stream.
      request.server.keySockets.track(socket, request.principal);
      handlers.socket(socket, request as RequestOf<K>);
    },
  });
}

/** The plain-HTTP answer of a WebSocket operation. */
export const upgradeRequired: Handler = async (_request, reply) => {
  reply.header('upgrade', 'websocket');
  return sendProblem(
    reply,
    problem('UPGRADE_REQUIRED', 'this endpoint is a WebSocket; connect with an Upgrade: websocket request'),
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

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

type JsonObject = Record<string, unknown>;

export interface Operation {
  operationId: string;
  method: string;
  /** Fastify form: `/v1/sessions/:sessionId`. */
  url: string;
  /** OpenAPI form: `/v1/sessions/{sessionId}`. */
  path: string;
  public: boolean;
  /** Who may call it (`x-berth-role`): no key, or a key with at least this role. */
  role: Role;
  schema: { params?: JsonObject; querystring?: JsonObject; headers?: JsonObject; body?: JsonObject };
}

export const ROLES = ['public', 'viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const specPath = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../openapi.yaml');

export function loadSpec(file = specPath): JsonObject {
  return parse(readFileSync(file, 'utf8')) as JsonObject;
}

/** Inlines local `$ref`s so the request validators need no schema registry (the spec has no cycles). */
export function deref(node: unknown, root: JsonObject): unknown {
  if (Array.isArray(node)) return node.map((item) => deref(item, root));
  if (!node || typeof node !== 'object') return node;
  const obj = node as JsonObject;
  if (typeof obj.$ref === 'string') {
    const target = obj.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce<unknown>((acc, key) => (acc as JsonObject)[key], root);
    const { $ref: _ref, ...siblings } = obj;
    return { ...(deref(target, root) as JsonObject), ...(deref(siblings, root) as JsonObject) };
  }
  return Object.fromEntries(
    Object.entries(obj)
      .filter(([key]) => key !== 'examples')
      .map(([key, value]) => [key, deref(value, root)]),
  );
}

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

/** Every operation in the contract, with the request schemas Fastify validates against. */
export function operations(spec: JsonObject = loadSpec()): Map<string, Operation> {
  const out = new Map<string, Operation>();
  for (const [p, item] of Object.entries(spec.paths as JsonObject)) {
    const pathItem = deref(item, spec) as JsonObject;
    const shared = (pathItem.parameters as JsonObject[] | undefined) ?? [];
    for (const method of METHODS) {
      const op = pathItem[method] as JsonObject | undefined;
      if (!op) continue;
      const params = [...shared, ...((op.parameters as JsonObject[] | undefined) ?? [])];
      const group = (where: string, lower = false) => {
        const list = params.filter((prm) => prm.in === where);
        if (list.length === 0) return undefined;
        return {
          type: 'object',
          properties: Object.fromEntries(
            list.map((prm) => [lower ? String(prm.name).toLowerCase() : prm.name, prm.schema]),
          ),
          required: list
            .filter((prm) => prm.required)
            .map((prm) => (lower ? String(prm.name).toLowerCase() : prm.name)),
          ...(where === 'query' ? { additionalProperties: false } : {}),
        };
      };
      const body = (op.requestBody as JsonObject | undefined)?.content as JsonObject | undefined;
      const schema: Operation['schema'] = {};
      const paramsSchema = group('path');
      const querySchema = group('query');
      const headerSchema = group('header', true);
      if (paramsSchema) schema.params = paramsSchema;
      if (querySchema) schema.querystring = querySchema;
      if (headerSchema) schema.headers = headerSchema;
      const jsonBody = (body?.['application/json'] as JsonObject | undefined)?.schema as
        | JsonObject
        | undefined;
      if (jsonBody) schema.body = jsonBody;
      const operationId = op.operationId as string;
      const role = op['x-berth-role'] as Role;
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      // Every operation states its role; `public` and an empty `security` must agree.
      if (!ROLES.includes(role) || (role === 'public') !== isPublic)
        throw new Error(
          `operation ${operationId}: x-berth-role must be one of ${ROLES.join(', ')} (public iff security: [])`,
        );
      out.set(operationId, {
        operationId,
        method: method.toUpperCase(),
        path: p,
        url: p.replace(/\{(\w+)\}/g, ':$1'),
        public: isPublic,
        role,
        schema,
      });
    }
  }
  return out;
}

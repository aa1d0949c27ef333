import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'vitest';
import { deref, loadSpec } from '../../src/http/spec.ts';
import type { TestServer } from './server.ts';

type JsonObject = Record<string, unknown>;

// ajv-formats is CommonJS; under ESM interop its default export may be nested.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

const spec = loadSpec();
const resolved = deref(spec, spec) as JsonObject;
const paths = resolved.paths as Record<string, JsonObject>;

// OpenAPI 3.1 schemas are JSON Schema 2020-12; strict off because the spec carries annotations ajv does not know.
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false }));
const validators = new Map<string, ValidateFunction>();

function validatorFor(key: string, schema: JsonObject): ValidateFunction {
  let fn = validators.get(key);
  if (!fn) {
    fn = ajv.compile(schema);
    validators.set(key, fn);
  }
  return fn;
}

const problemSchema = (resolved.components as { schemas: Record<string, JsonObject> }).schemas.Problem!;

/** The spec's path template for a concrete request path (`/v1/groups/grp_…` → `/v1/groups/{groupId}`). */
export function templateFor(method: string, concretePath: string): string | undefined {
  const pathOnly = concretePath.split('?')[0]!;
  const segments = pathOnly.split('/');
  for (const [template, item] of Object.entries(paths)) {
    if (!item[method.toLowerCase()]) continue;
    const parts = template.split('/');
    if (parts.length !== segments.length) continue;
    if (parts.every((part, i) => /^\{\w+\}$/.test(part) || part === segments[i])) return template;
  }
  return undefined;
}

/** Reads a response body: parsed JSON for JSON media types, otherwise the text (empty string when none). */
export async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  if (text !== '' && /\bjson\b/.test(type)) return JSON.parse(text);
  return text;
}

const mediaType = (response: Response) =>
  (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();

/**
 * Asserts that the response is one openapi.yaml documents for this operation: the status is listed,
 * the content type is one the status declares, and the body matches that schema.
 */
export function expectMatchesSpec(
  method: string,
  pathTemplate: string,
  response: Response,
  body: unknown,
): void {
  const where = `${method.toUpperCase()} ${pathTemplate} → ${response.status}`;
  const op = paths[pathTemplate]?.[method.toLowerCase()] as JsonObject | undefined;
  expect(op, `${where}: operation is not in openapi.yaml`).toBeDefined();
  const responses = op!.responses as Record<string, JsonObject>;
  const documented =
    responses[String(response.status)] ?? responses[`${String(response.status)[0]}XX`] ?? responses.default;
  expect(
    documented,
    `${where}: status is not documented (documented: ${Object.keys(responses).join(', ')})`,
  ).toBeDefined();
  const content = documented!.content as Record<string, { schema?: JsonObject }> | undefined;
  if (!content) {
    expect(body, `${where}: documented without a body`).toBe('');
    return;
  }
  const type = mediaType(response);
  expect(Object.keys(content), `${where}: content type "${type}" is not documented`).toContain(type);
  const schema = content[type]!.schema;
  if (schema) expectValid(validatorFor(`${where} ${type}`, schema), body, where);
}

function expectValid(validate: ValidateFunction, body: unknown, where: string): void {
  const ok = validate(body);
  expect(
    ok,
    `${where}: body does not match the schema: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
  ).toBe(true);
}

/** Asserts the response is RFC 9457 problem+json (the Problem schema) with this status and code. */
export function expectProblem(response: Response, body: unknown, status: number, code: string): void {
  expect({ status: response.status, code: (body as { code?: unknown }).code }).toEqual({ status, code });
  expect(mediaType(response)).toBe('application/problem+json');
  expectValid(validatorFor('#Problem', problemSchema), body, `problem ${status} ${code}`);
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
}

export interface Checked<T = unknown> {
  res: Response;
  body: T;
}

/**
 * One API call with the test server's bearer token (an empty `authorization` header means none is
 * sent), its response checked against openapi.yaml: the operation is found from the method and
 * path; responses of unknown routes must be problems.
 */
export async function call<T = unknown>(
  server: TestServer,
  method: string,
  path: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<Checked<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (!headers.has('authorization')) headers.set('authorization', `Bearer ${server.token}`);
  else if (headers.get('authorization') === '') headers.delete('authorization');
  if (json !== undefined) headers.set('content-type', 'application/json');
  const res = await fetch(`${server.url}${path}`, {
    ...rest,
    method,
    headers,
    ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
  });
  const body = await readBody(res);
  const template = templateFor(method, path);
  if (template) expectMatchesSpec(method, template, res, body);
  else {
    expect(res.status, `${method} ${path} is not in openapi.yaml`).toBeGreaterThanOrEqual(400);
    expectProblem(res, body, res.status, (body as { code?: string }).code ?? '');
  }
  return { res, body: body as T };
}

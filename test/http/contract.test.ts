import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contract } from '../../src/http/route.ts';
import { deref, loadSpec } from '../../src/http/spec.ts';
import { call, expectMatchesSpec, templateFor } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type JsonObject = Record<string, unknown>;

/**
 * Every route Fastify registered, read back from its route tree (`printRoutes`); HEAD routes are
 * the ones Fastify adds for each GET, so they are left out.
 */
function registeredRoutes(app: FastifyInstance): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^((?:│ {3}| {4})*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    stack.length = m[1]!.length / 4;
    stack.push(m[2] === '(empty root node)' ? '' : m[2]!);
    for (const method of m[3]?.split(', ') ?? [])
      if (method !== 'HEAD') out.push(`${method} ${stack.join('')}`);
  }
  return out.sort();
}

const spec = loadSpec();
const resolved = deref(spec, spec) as { paths: Record<string, Record<string, JsonObject>> };
const METHODS = ['get', 'put', 'post', 'patch', 'delete'];
const specOperations = Object.entries(resolved.paths).flatMap(([path, item]) =>
  METHODS.filter((m) => item[m]).map((m) => ({ path, method: m.toUpperCase(), op: item[m]! })),
);
const fastifyUrl = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');
const fill = (path: string) =>
  path
    .replace('{groupId}', 'grp_000000000000000000000')
    .replace('{sessionId}', 'ses_000000000000000000000')
    .replace('{messageId}', 'msg_000000000000000000000')
    .replace('{buildId}', 'bld_000000000000000000000')
    .replace('{keyId}', 'key_000000000000000000000')
    .replace('{scheduleId}', 'sch_000000000000000000000')
    .replace('{fileId}', 'fil_000000000000000000000')
    .replace('{externalKey}', 'some-key')
    .replace('{asset}', 'missing.js');

describe('openapi.yaml', () => {
  it('has unique operation ids, all of which the route table knows', () => {
    const ids = specOperations.map((o) => o.op.operationId as string);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...contract().keys()].sort()).toEqual([...ids].sort());
  });

  it('documents every error as problem+json (readiness reports its checks instead)', () => {
    for (const { path, method, op } of specOperations) {
      for (const [status, response] of Object.entries(op.responses as Record<string, JsonObject>)) {
        if (Number(status) < 400) continue;
        if (op.operationId === 'getReadiness' && status === '503') continue;
        expect(Object.keys(response.content as JsonObject), `${method} ${path} ${status}`).toEqual([
          'application/problem+json',
        ]);
      }
    }
  });

  it('documents 401 for every authenticated operation and 400 for every operation with input', () => {
    for (const { path, method, op } of specOperations) {
      const responses = Object.keys(op.responses as JsonObject);
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      if (!isPublic) expect(responses, `${method} ${path}`).toContain('401');
      const hasInput = op.requestBody !== undefined || path.includes('{') || op.parameters !== undefined;
      if (hasInput) expect(responses, `${method} ${path}`).toContain('400');
      if (op.requestBody)
        expect(responses, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
    }
  });
});

describe('expectMatchesSpec', () => {
  const problem = { type: 'urn:x', title: 'Not Found', status: 404, code: 'GROUP_NOT_FOUND' };
  const reply = (status: number, body: unknown, type = 'application/json') =>
    new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { 'content-type': `${type}; charset=utf-8` },
    });

  it('accepts a documented status with a matching body', () => {
    expectMatchesSpec('GET', '/healthz', reply(200, { status: 'ok' }), { status: 'ok' });
    expectMatchesSpec(
      'GET',
      '/v1/groups/{groupId}',
      reply(404, problem, 'application/problem+json'),
      problem,
    );
  });

  it('rejects an undocumented status', () => {
    expect(() => expectMatchesSpec('GET', '/healthz', reply(418, {}), {})).toThrow(/not documented/);
  });

  it('rejects a body that does not match the schema', () => {
    expect(() =>
      expectMatchesSpec('GET', '/healthz', reply(200, { status: 'up' }), { status: 'up' }),
    ).toThrow(/does not match/);
    const extra = { ...problem, status: 'bad' };
    expect(() =>
      expectMatchesSpec('GET', '/v1/groups/{groupId}', reply(404, extra, 'application/problem+json'), extra),
    ).toThrow(/does not match/);
  });

  it('rejects an undocumented content type', () => {
    expect(() => expectMatchesSpec('GET', '/v1/groups/{groupId}', reply(404, problem), problem)).toThrow(
      /content type/,
    );
  });

  it('rejects an operation the spec does not have', () => {
    expect(() => expectMatchesSpec('PUT', '/healthz', reply(200, {}), {})).toThrow(/not in openapi.yaml/);
  });

  it('maps concrete paths to templates', () => {
    expect(templateFor('GET', '/v1/sessions/ses_1/messages/msg_2?limit=1')).toBe(
      '/v1/sessions/{sessionId}/messages/{messageId}',
    );
    expect(templateFor('POST', '/v1/mounts/check')).toBe('/v1/mounts/check');
    expect(templateFor('GET', '/v1/nope')).toBeUndefined();
  });
});

describe.each(dbKinds())('routes and contract agree (%s)', (kind) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('every registered route is a spec operation, and every spec operation is registered', () => {
    const registered = registeredRoutes(srv.app);
    expect(registered.length).toBeGreaterThan(0);
    const documented = specOperations.map((o) => `${o.method} ${fastifyUrl(o.path)}`).sort();
    expect(registered).toEqual(documented);
  });

  it('Fastify finds a route for each spec operation', () => {
    for (const { path, method } of specOperations) {
      expect(srv.app.hasRoute({ method: method as 'GET', url: fastifyUrl(path) }), `${method} ${path}`).toBe(
        true,
      );
    }
  });

  it('every authenticated operation answers 401 problem+json without a token, as documented', async () => {
    for (const { path, method, op } of specOperations) {
      const isPublic = Array.isArray(op.security) && op.security.length === 0;
      const { res, body } = await call<{ code: string }>(srv, method, fill(path), {
        headers: { authorization: '' },
      });
      if (isPublic) expect(res.status, `${method} ${path}`).not.toBe(401);
      else expect([res.status, body.code], `${method} ${path}`).toEqual([401, 'UNAUTHORIZED']);
    }
  });

  it('every operation without a body answers unknown ids as documented', async () => {
    for (const { path, method, op } of specOperations) {
      if (op.requestBody || !path.includes('{')) continue;
      const { res, body } = await call<{ code: string }>(srv, method, fill(path));
      // Plain HTTP to a WebSocket operation may be refused before the lookup; call() checked it is documented.
      if (res.status === 426) continue;
      expect([res.status, body.code], `${method} ${path}`).toEqual([
        404,
        expect.stringMatching(/_NOT_FOUND$/),
      ]);
    }
  });

  it('health answers as documented', async () => {
    expect((await call(srv, 'GET', '/healthz')).res.status).toBe(200);
    expect((await call(srv, 'GET', '/readyz')).res.status).toBe(503);
  });
});

describe.each(dbKinds())('readiness with a real runtime (%s)', (kind) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'docker' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('answers as documented, with the database check passing', async () => {
    const { res, body } = await call<{ ready: boolean; checks: Record<string, { ok: boolean }> }>(
      srv,
      'GET',
      '/readyz',
    );
    expect([200, 503]).toContain(res.status);
    expect(body.ready).toBe(res.status === 200);
    expect(body.checks.database!.ok).toBe(true);
  });
});

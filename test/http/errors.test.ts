import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT } from '../../src/app.ts';
import type { components } from '../../src/http/api.d.ts';
import {
  call,
  expectProblem,
  type Group,
  type Message,
  type Problem,
  type Session,
} from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

type Readiness = components['schemas']['Readiness'];

const UNKNOWN_GROUP = 'grp_000000000000000000000';
const UNKNOWN_SESSION = 'ses_000000000000000000000';
const UNKNOWN_MESSAGE = 'msg_000000000000000000000';

interface Fixture {
  group: Group;
  session: Session;
}

interface BadCase {
  name: string;
  method: string;
  path: string | ((f: Fixture) => string);
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const json = { 'content-type': 'application/json' };
const group = (body: Record<string, unknown>) => ({ name: 'Team', folder: 'valid-folder', ...body });

const cases: BadCase[] = [
  // Bodies that are not JSON, or not the JSON the contract describes.
  {
    name: 'malformed JSON',
    method: 'POST',
    path: '/v1/groups',
    body: '{"name":',
    headers: json,
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'empty JSON body',
    method: 'POST',
    path: '/v1/groups',
    body: '',
    headers: json,
    status: 400,
    code: 'INVALID_JSON',
  },
  {
    name: 'JSON that is not an object',
    method: 'POST',
    path: '/v1/groups',
    json: ['a'],
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'name of the wrong type',
    method: 'POST',
    path: '/v1/groups',
    json: group({ name: 123 }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'empty name',
    method: 'POST',
    path: '/v1/groups',
    json: group({ name: '' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'unknown trust',
    method: 'POST',
    path: '/v1/groups',
    json: group({ trust: 'root' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'missing folder',
    method: 'POST',
    path: '/v1/groups',
    json: { name: 'x' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'unknown top-level field',
    method: 'POST',
    path: '/v1/groups',
    json: group({ colour: 'red' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'unknown container setting',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { privileged: true } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'reserved env name',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { env: { BERTH_API_TOKEN: 'x' } } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'MCP server command that is a host path',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { mcpServers: { fs: { command: '/home/me/bin/server' } } } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'MCP server command climbing out of /workspace',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { mcpServers: { fs: { command: '/workspace/../etc/x' } } } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'MCP server env naming the credential',
    method: 'POST',
    path: '/v1/groups',
    json: group({
      containerConfig: { mcpServers: { fs: { command: 'node', env: { ANTHROPIC_API_KEY: 'x' } } } },
    }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'tool name with a shell metacharacter',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { disallowedTools: ['Bash;rm'] } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'memory below the floor',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { memoryMb: 1 } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'image with a shell metacharacter',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { image: 'x;rm -rf /' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'oversized body',
    method: 'POST',
    path: '/v1/groups',
    json: group({ name: 'x'.repeat(BODY_LIMIT + 1) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'text/plain body',
    method: 'POST',
    path: '/v1/groups',
    body: JSON.stringify(group({})),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'XML body',
    method: 'POST',
    path: '/v1/groups',
    body: '<group/>',
    headers: { 'content-type': 'application/xml' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'form body',
    method: 'POST',
    path: '/v1/sessions',
    body: 'groupId=x',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'text/plain message',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    body: 'hello',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  // PostgreSQL cannot store U+0000; such text is refused, not a server error.
  {
    name: 'NUL in a group name',
    method: 'POST',
    path: '/v1/groups',
    json: group({ name: 'a\u0000b' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'NUL in an env value',
    method: 'POST',
    path: '/v1/groups',
    json: group({ containerConfig: { env: { A: '\u0000' } } }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'NUL in a rename',
    method: 'PATCH',
    path: (f) => `/v1/groups/${f.group.id}`,
    json: { name: '\u0000' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'NUL in message text',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    json: { text: 'hi\u0000' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  // Folder slugs.
  {
    name: 'folder ../x',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: '../x' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'folder global (reserved)',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: 'global' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'folder with upper case',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: 'Upper' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'folder of 65 characters',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: 'a'.repeat(65) }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'empty folder',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: '' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'folder starting with a dash',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: '-x' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'folder with a slash',
    method: 'POST',
    path: '/v1/groups',
    json: group({ folder: 'a/b' }),
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  // Sessions and messages.
  {
    name: 'groupId of the wrong type',
    method: 'POST',
    path: '/v1/sessions',
    json: { groupId: 5 },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed groupId in a body',
    method: 'POST',
    path: '/v1/sessions',
    json: { groupId: 'nope' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'session in an unknown group',
    method: 'POST',
    path: '/v1/sessions',
    json: { groupId: UNKNOWN_GROUP },
    status: 404,
    code: 'GROUP_NOT_FOUND',
  },
  {
    name: 'external key with a control character',
    method: 'POST',
    path: '/v1/sessions',
    json: { groupId: UNKNOWN_GROUP, externalKey: 'a\nb' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'empty message text',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    json: { text: '' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'message without text',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    json: {},
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'message text too long',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    json: { text: 'x'.repeat(100_001) },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'Idempotency-Key with a space',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    json: { text: 'hi' },
    headers: { 'idempotency-key': 'a b' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'Idempotency-Key too long',
    method: 'POST',
    path: (f) => `/v1/sessions/${f.session.id}/messages`,
    json: { text: 'hi' },
    headers: { 'idempotency-key': 'k'.repeat(201) },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  // Well-formed ids that do not exist.
  {
    name: 'get unknown group',
    method: 'GET',
    path: `/v1/groups/${UNKNOWN_GROUP}`,
    status: 404,
    code: 'GROUP_NOT_FOUND',
  },
  {
    name: 'patch unknown group',
    method: 'PATCH',
    path: `/v1/groups/${UNKNOWN_GROUP}`,
    json: { name: 'x' },
    status: 404,
    code: 'GROUP_NOT_FOUND',
  },
  {
    name: 'delete unknown group',
    method: 'DELETE',
    path: `/v1/groups/${UNKNOWN_GROUP}`,
    status: 404,
    code: 'GROUP_NOT_FOUND',
  },
  {
    name: 'get unknown session',
    method: 'GET',
    path: `/v1/sessions/${UNKNOWN_SESSION}`,
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'delete unknown session',
    method: 'DELETE',
    path: `/v1/sessions/${UNKNOWN_SESSION}`,
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'wake unknown session',
    method: 'POST',
    path: `/v1/sessions/${UNKNOWN_SESSION}/wake`,
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'stop unknown session',
    method: 'POST',
    path: `/v1/sessions/${UNKNOWN_SESSION}/stop`,
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'message to unknown session',
    method: 'POST',
    path: `/v1/sessions/${UNKNOWN_SESSION}/messages`,
    json: { text: 'hi' },
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'messages of unknown session',
    method: 'GET',
    path: `/v1/sessions/${UNKNOWN_SESSION}/messages`,
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'events of unknown session',
    method: 'GET',
    path: `/v1/sessions/${UNKNOWN_SESSION}/events`,
    status: 404,
    code: 'SESSION_NOT_FOUND',
  },
  {
    name: 'unknown message',
    method: 'GET',
    path: (f) => `/v1/sessions/${f.session.id}/messages/${UNKNOWN_MESSAGE}`,
    status: 404,
    code: 'MESSAGE_NOT_FOUND',
  },
  {
    name: 'by-key in unknown group',
    method: 'PUT',
    path: `/v1/groups/${UNKNOWN_GROUP}/sessions/by-key/k`,
    status: 404,
    code: 'GROUP_NOT_FOUND',
  },
  // Malformed ids and query parameters.
  {
    name: 'malformed group id',
    method: 'GET',
    path: '/v1/groups/abc',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'group id in upper case',
    method: 'GET',
    path: `/v1/groups/${UNKNOWN_GROUP.toUpperCase()}`,
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed session id',
    method: 'DELETE',
    path: '/v1/sessions/ses_short',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'encoded traversal as session id',
    method: 'GET',
    path: '/v1/sessions/..%2F..%2Fetc',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed message id',
    method: 'GET',
    path: (f) => `/v1/sessions/${f.session.id}/messages/1`,
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  { name: 'limit 0', method: 'GET', path: '/v1/groups?limit=0', status: 400, code: 'VALIDATION_FAILED' },
  {
    name: 'limit 501',
    method: 'GET',
    path: '/v1/sessions?limit=501',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'limit not a number',
    method: 'GET',
    path: '/v1/groups?limit=ten',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed cursor',
    method: 'GET',
    path: '/v1/groups?cursor=zzz',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'malformed groupId filter',
    method: 'GET',
    path: '/v1/sessions?groupId=1',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'unknown query parameter',
    method: 'GET',
    path: '/v1/groups?sort=desc',
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'negative after',
    method: 'GET',
    path: (f) => `/v1/sessions/${f.session.id}/messages?after=-1`,
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'unknown event kind',
    method: 'GET',
    path: (f) => `/v1/sessions/${f.session.id}/events?kinds=log,secret`,
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'wait too long',
    method: 'GET',
    path: (f) => `/v1/sessions/${f.session.id}/events?wait=600000`,
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  // Routes that do not exist.
  { name: 'unknown path', method: 'GET', path: '/v1/nope', status: 404, code: 'ROUTE_NOT_FOUND' },
  { name: 'unversioned path', method: 'GET', path: '/groups', status: 404, code: 'ROUTE_NOT_FOUND' },
  { name: 'method not offered', method: 'DELETE', path: '/v1/groups', status: 404, code: 'ROUTE_NOT_FOUND' },
  // Authentication.
  {
    name: 'missing token',
    method: 'GET',
    path: '/v1/groups',
    headers: { authorization: '' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'wrong token',
    method: 'GET',
    path: '/v1/groups',
    headers: { authorization: 'Bearer nope' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'token with the wrong scheme',
    method: 'GET',
    path: '/v1/groups',
    headers: { authorization: 'Basic dGVzdC10b2tlbg==' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'token in the query string',
    method: 'GET',
    path: '/v1/groups?access_token=test-token',
    headers: { authorization: '' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'wrong token, valid body',
    method: 'POST',
    path: '/v1/groups',
    json: group({}),
    headers: { authorization: 'Bearer nope' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'wrong token, bad body',
    method: 'POST',
    path: '/v1/groups',
    json: { name: 1 },
    headers: { authorization: 'Bearer nope' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'missing token, unknown route',
    method: 'GET',
    path: '/v1/nope',
    headers: { authorization: '' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
];

describe.each(dbKinds())('bad requests (%s)', (kind) => {
  let srv: TestServer;
  let fixture: Fixture;

  /** Everything a bad request could have changed. */
  async function snapshot(): Promise<unknown> {
    const groups = await call<{ items: Group[] }>(srv, 'GET', '/v1/groups?limit=500');
    const sessions = await call<{ items: Session[] }>(srv, 'GET', '/v1/sessions?limit=500');
    const messages = await call<{ items: Message[] }>(
      srv,
      'GET',
      `/v1/sessions/${fixture.session.id}/messages`,
    );
    return { groups: groups.body.items, sessions: sessions.body.items, messages: messages.body.items };
  }

  beforeAll(async () => {
    // No Apple container CLI here: the runtime is missing, so nothing can start a container.
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
    const g = await call<Group>(srv, 'POST', '/v1/groups', { json: { name: 'Fixture', folder: 'fixture' } });
    const s = await call<Session>(srv, 'POST', '/v1/sessions', {
      json: { groupId: g.body.id, externalKey: 'k' },
    });
    fixture = { group: g.body, session: s.body };
  });
  afterAll(async () => {
    await srv?.close();
  });

  it.each(cases)('$name → $status $code, nothing changes', async (c) => {
    const before = await snapshot();
    const path = typeof c.path === 'function' ? c.path(fixture) : c.path;
    // An empty authorization value stands for "no header at all".
    const init: RequestInit & { json?: unknown } = { headers: c.headers ?? {} };
    if (c.json !== undefined) init.json = c.json;
    if (c.body !== undefined) init.body = c.body;
    const { res, body } = await call<Problem>(srv, c.method, path, init);
    expectProblem(res, body, c.status, c.code);
    expect(body.type).toBe(`urn:berth:problem:${c.code.toLowerCase().replaceAll('_', '-')}`);
    expect(body.detail).toEqual(expect.any(String));
    if (c.code === 'VALIDATION_FAILED') expect(body.errors?.length).toBeGreaterThan(0);
    expect(await snapshot()).toEqual(before);
  });

  it('accepts an external key of 200 characters, the most the contract allows', async () => {
    const { res } = await call(
      srv,
      'PUT',
      `/v1/groups/${fixture.group.id}/sessions/by-key/${'k'.repeat(200)}`,
    );
    expect(res.status).toBe(201);
  });

  it('answers a malformed percent-encoding with problem+json', async () => {
    const { res, body } = await call(srv, 'GET', '/v1/sessions/%E0%A4%A');
    expectProblem(res, body, 400, 'VALIDATION_FAILED');
  });

  it('a body twice the limit is refused with 413 and the server keeps serving', async () => {
    const big = await call<Problem>(srv, 'POST', '/v1/groups', {
      json: group({ name: 'x'.repeat(BODY_LIMIT * 2) }),
    });
    expectProblem(big.res, big.body, 413, 'PAYLOAD_TOO_LARGE');
    const ok = await call<Group>(srv, 'GET', `/v1/groups/${fixture.group.id}`);
    expect(ok.res.status).toBe(200);
  });

  it('a body just under the limit is accepted as far as validation', async () => {
    // Under the byte limit, but name is longer than the schema allows: validation, not size, refuses it.
    const { res, body } = await call<Problem>(srv, 'POST', '/v1/groups', {
      json: group({ name: 'x'.repeat(BODY_LIMIT - 100) }),
    });
    expect(res.status).toBe(400);
    expect(body.code).toBe('VALIDATION_FAILED');
  });

  it('accepts the boundary folders that are valid', async () => {
    for (const folder of ['a'.repeat(64), '0', 'a_b-c', 'global-2', 'globals']) {
      const { res, body } = await call<Group>(srv, 'POST', '/v1/groups', { json: { name: 'ok', folder } });
      expect(res.status, folder).toBe(201);
      expect((await call(srv, 'DELETE', `/v1/groups/${body.id}`)).res.status).toBe(204);
    }
  });

  it('health is public: healthz answers without a token', async () => {
    const { res, body } = await call(srv, 'GET', '/healthz', { headers: { authorization: '' } });
    expect(res.status).toBe(200);
    expect(body).toEqual({ status: 'ok' });
  });

  it('readyz says the runtime is missing (503, runtime.ok false, detail for the token holder)', async () => {
    const { res, body } = await call<Readiness>(srv, 'GET', '/readyz');
    expect(res.status).toBe(503);
    expect(body.ready).toBe(false);
    expect(body.checks.database).toEqual({ ok: true });
    expect(body.checks.runtime.ok).toBe(false);
    expect(body.checks.runtime.detail).toMatch(/container.*install|install.*container/i);
  });
});

describe.each(dbKinds())('messages without a runtime (%s)', (kind) => {
  let srv: TestServer;
  let session: Session;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
    const g = await call<Group>(srv, 'POST', '/v1/groups', { json: { name: 'M', folder: 'messages' } });
    session = (await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: g.body.id } })).body;
  });
  afterAll(async () => {
    await srv?.close();
  });

  const post = (text: string, key?: string) =>
    call<Message>(srv, 'POST', `/v1/sessions/${session.id}/messages`, {
      json: { text },
      ...(key ? { headers: { 'idempotency-key': key } } : {}),
    });

  it('the same Idempotency-Key twice: 202, then 200 with the same message, stored once', async () => {
    const first = await post('hello', 'key-1');
    expect(first.res.status).toBe(202);
    expect(first.res.headers.get('location')).toBe(`/v1/sessions/${session.id}/messages/${first.body.id}`);
    expect(first.body).toMatchObject({
      sessionId: session.id,
      text: 'hello',
      idempotencyKey: 'key-1',
      attempts: 0,
    });
    const second = await post('hello', 'key-1');
    expect(second.res.status).toBe(200);
    expect(second.res.headers.get('location')).toBeNull();
    expect(second.body.id).toBe(first.body.id);
    expect(second.body.seq).toBe(first.body.seq);
    const list = await call<{ items: Message[] }>(srv, 'GET', `/v1/sessions/${session.id}/messages`);
    expect(list.body.items.filter((m) => m.idempotencyKey === 'key-1')).toHaveLength(1);
  });

  it('the key reused with another text is refused (422), the original kept', async () => {
    const first = await post('original', 'key-2');
    const retry = await post('changed', 'key-2');
    expectProblem(retry.res, retry.body, 422, 'IDEMPOTENCY_KEY_REUSED');
    const stored = await call<Message>(srv, 'GET', `/v1/sessions/${session.id}/messages/${first.body.id}`);
    expect(stored.body.text).toBe('original');
  });

  it('concurrent posts with one key store one message', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => post('same', 'key-3')));
    expect(results.map((r) => r.res.status).filter((s) => s === 202)).toHaveLength(1);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
  });

  it('messages without a key are all stored, with increasing seqs', async () => {
    const a = await post('one');
    const b = await post('two');
    expect([a.res.status, b.res.status]).toEqual([202, 202]);
    expect(b.body.seq).toBe(a.body.seq + 1);
    expect(a.body.idempotencyKey).toBeNull();
  });

  it('wake answers 503 RUNTIME_UNAVAILABLE naming what to install', async () => {
    const { res, body } = await call<Problem>(srv, 'POST', `/v1/sessions/${session.id}/wake`);
    expect(res.status).toBe(503);
    expect(body.code).toBe('RUNTIME_UNAVAILABLE');
    expect(body.detail).toMatch(/install/i);
    expect(body.detail).toMatch(/container/);
  });

  it('accepted messages stay pending and the session stays idle', async () => {
    const list = await call<{ items: Message[]; nextAfter: number }>(
      srv,
      'GET',
      `/v1/sessions/${session.id}/messages`,
    );
    expect(list.body.items.length).toBeGreaterThanOrEqual(5);
    for (const m of list.body.items)
      expect({ status: m.status, attempts: m.attempts }).toEqual({ status: 'pending', attempts: 0 });
    const seqs = list.body.items.map((m) => m.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(list.body.nextAfter).toBe(seqs.at(-1));
    const one = await call<Message & { replies: unknown[] }>(
      srv,
      'GET',
      `/v1/sessions/${session.id}/messages/${list.body.items[0]!.id}`,
    );
    const { replies, ...message } = one.body;
    expect(message).toEqual(list.body.items[0]);
    expect(replies).toEqual([]);
    const got = await call<Session>(srv, 'GET', `/v1/sessions/${session.id}`);
    expect(got.body).toMatchObject({ status: 'idle', generation: 0, containerName: null });
  });

  it('paging messages with after', async () => {
    const page = await call<{ items: Message[]; nextAfter: number }>(
      srv,
      'GET',
      `/v1/sessions/${session.id}/messages?after=2&limit=2`,
    );
    expect(page.body.items.map((m) => m.seq)).toEqual([3, 4]);
    expect(page.body.nextAfter).toBe(4);
  });

  it('stopping a session that never ran answers the idle session', async () => {
    const { res, body } = await call<Session>(srv, 'POST', `/v1/sessions/${session.id}/stop`);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ id: session.id, status: 'idle' });
  });
});

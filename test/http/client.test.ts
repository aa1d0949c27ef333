import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import createClient, { type Client } from 'openapi-fetch';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { paths } from '../../src/http/api.d.ts';
import { expectMatchesSpec, type Group, type Problem } from '../support/contract.ts';
import { dbKinds, tempDir } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const root = path.resolve(import.meta.dirname, '../..');
const committed = path.join(root, 'src/http/api.d.ts');

/** What openapi-fetch hands back, checked against openapi.yaml like every other response here. */
function checked(
  method: string,
  template: string,
  result: { data?: unknown; error?: unknown; response: Response },
): void {
  const body = result.response.ok ? result.data : result.error;
  expectMatchesSpec(method, template, result.response, body ?? '');
}

describe('generated client types', () => {
  it('match what openapi-typescript makes of openapi.yaml today (run `npm run generate:api`)', () => {
    const out = path.join(tempDir('berth-client-'), 'api.d.ts');
    execFileSync(path.join(root, 'node_modules/.bin/openapi-typescript'), ['openapi.yaml', '-o', out], {
      cwd: root,
      stdio: 'pipe',
    });
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(committed, 'utf8'));
  });
});

describe.each(dbKinds())('openapi-fetch client against the server (%s)', (kind) => {
  let srv: TestServer;
  let client: Client<paths>;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
    client = createClient<paths>({ baseUrl: srv.url, headers: { authorization: `Bearer ${srv.token}` } });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('creates, lists and gets groups', async () => {
    const created = await client.POST('/v1/groups', {
      body: { name: 'Client', folder: 'client', trust: 'member', containerConfig: { memoryMb: 256 } },
    });
    checked('POST', '/v1/groups', created);
    expect(created.response.status).toBe(201);
    expectTypeOf(created.data).toEqualTypeOf<Group | undefined>();
    const group = created.data!;
    expect(group).toMatchObject({ name: 'Client', folder: 'client', trust: 'member' });

    const list = await client.GET('/v1/groups', { params: { query: { limit: 10 } } });
    checked('GET', '/v1/groups', list);
    expect(list.data!.items.map((g) => g.id)).toContain(group.id);
    expect(list.data!.nextCursor).toBeNull();

    const got = await client.GET('/v1/groups/{groupId}', { params: { path: { groupId: group.id } } });
    checked('GET', '/v1/groups/{groupId}', got);
    expect(got.data).toEqual(group);

    const renamed = await client.PATCH('/v1/groups/{groupId}', {
      params: { path: { groupId: group.id } },
      body: { name: 'Renamed' },
    });
    checked('PATCH', '/v1/groups/{groupId}', renamed);
    expect(renamed.data!.name).toBe('Renamed');
  });

  it('creates, lists, gets and deletes sessions', async () => {
    const group = (
      await client.POST('/v1/groups', { body: { name: 'S', folder: 'client-sessions', trust: 'admin' } })
    ).data!;

    const ensured = await client.PUT('/v1/groups/{groupId}/sessions/by-key/{externalKey}', {
      params: { path: { groupId: group.id, externalKey: 'chat 42' } },
    });
    checked('PUT', '/v1/groups/{groupId}/sessions/by-key/{externalKey}', ensured);
    expect(ensured.response.status).toBe(201);
    expect(ensured.data!.externalKey).toBe('chat 42');

    const again = await client.PUT('/v1/groups/{groupId}/sessions/by-key/{externalKey}', {
      params: { path: { groupId: group.id, externalKey: 'chat 42' } },
    });
    expect(again.response.status).toBe(200);
    expect(again.data!.id).toBe(ensured.data!.id);

    const created = await client.POST('/v1/sessions', { body: { groupId: group.id } });
    checked('POST', '/v1/sessions', created);
    expect(created.response.status).toBe(201);

    const list = await client.GET('/v1/sessions', { params: { query: { groupId: group.id } } });
    checked('GET', '/v1/sessions', list);
    expect(list.data!.items.map((s) => s.id).sort()).toEqual([ensured.data!.id, created.data!.id].sort());

    const got = await client.GET('/v1/sessions/{sessionId}', {
      params: { path: { sessionId: created.data!.id } },
    });
    checked('GET', '/v1/sessions/{sessionId}', got);
    expect(got.data).toMatchObject({ id: created.data!.id, status: 'idle', generation: 0 });

    const deleted = await client.DELETE('/v1/sessions/{sessionId}', {
      params: { path: { sessionId: created.data!.id } },
    });
    checked('DELETE', '/v1/sessions/{sessionId}', deleted);
    expect(deleted.response.status).toBe(204);
  });

  it('gives errors typed as Problem', async () => {
    const { data, error, response } = await client.GET('/v1/groups/{groupId}', {
      params: { path: { groupId: 'grp_000000000000000000000' } },
    });
    checked('GET', '/v1/groups/{groupId}', { data, error, response });
    expectTypeOf(error).toEqualTypeOf<Problem | undefined>();
    expect(data).toBeUndefined();
    expect(response.status).toBe(404);
    expect(error).toMatchObject({ status: 404, code: 'GROUP_NOT_FOUND' });
  });

  it('types refuse what the server refuses', async () => {
    // @ts-expect-error folder is required by the contract, so the generated types require it too
    const result = await client.POST('/v1/groups', { body: { name: 'No folder', trust: 'member' } });
    checked('POST', '/v1/groups', result);
    expect(result.response.status).toBe(400);
    expect(result.error!.code).toBe('VALIDATION_FAILED');
    expect(result.error!.errors).toContainEqual(expect.objectContaining({ path: 'body/folder' }));
  });

  it('reports a missing token as a typed 401', async () => {
    const anonymous = createClient<paths>({ baseUrl: srv.url });
    const result = await anonymous.GET('/v1/sessions');
    checked('GET', '/v1/sessions', result);
    expect(result.response.status).toBe(401);
    expect(result.error!.code).toBe('UNAUTHORIZED');
  });
});

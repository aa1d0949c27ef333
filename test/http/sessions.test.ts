import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Group, type Page, type Problem, type Session } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const UNKNOWN_GROUP = 'grp_000000000000000000000';
let folders = 0;

describe.each(dbKinds())('sessions over HTTP (%s)', (kind) => {
  let srv: TestServer;

  async function createGroup(): Promise<Group> {
    const { res, body } = await call<Group>(srv, 'POST', '/v1/groups', {
      json: { name: 'Chat', folder: `s-${++folders}` },
    });
    expect(res.status).toBe(201);
    return body;
  }

  async function sessionsOf(groupId: string): Promise<Session[]> {
    const { res, body } = await call<Page<Session>>(srv, 'GET', `/v1/sessions?groupId=${groupId}&limit=500`);
    expect(res.status).toBe(200);
    return body.items;
  }

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'docker' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('creates an idle session in a group and gets it back', async () => {
    const group = await createGroup();
    const { res, body } = await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: group.id } });
    expect(res.status).toBe(201);
    expect(body).toMatchObject({
      groupId: group.id,
      externalKey: null,
      status: 'idle',
      generation: 0,
      containerName: null,
      lastActivityAt: null,
      lastExit: null,
      proxyUsage: { requests: 0, bytesIn: 0, bytesOut: 0 },
    });
    const got = await call<Session>(srv, 'GET', `/v1/sessions/${body.id}`);
    expect(got.res.status).toBe(200);
    expect(got.body).toEqual(body);
  });

  it('lists only the sessions of the group asked for', async () => {
    const [a, b] = [await createGroup(), await createGroup()];
    const inA = [];
    for (let i = 0; i < 3; i++)
      inA.push((await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: a.id } })).body);
    const inB = (await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: b.id } })).body;
    expect((await sessionsOf(a.id)).map((s) => s.id)).toEqual(inA.map((s) => s.id).sort());
    expect((await sessionsOf(b.id)).map((s) => s.id)).toEqual([inB.id]);
    const all = await call<Page<Session>>(srv, 'GET', '/v1/sessions?limit=500');
    expect(all.body.items.map((s) => s.id)).toEqual(
      expect.arrayContaining([...inA.map((s) => s.id), inB.id]),
    );
  });

  it('an unknown groupId filter lists nothing', async () => {
    expect(await sessionsOf(UNKNOWN_GROUP)).toEqual([]);
  });

  it('creating a session in an unknown group is a 404', async () => {
    const { res, body } = await call<Problem>(srv, 'POST', '/v1/sessions', {
      json: { groupId: UNKNOWN_GROUP },
    });
    expect(res.status).toBe(404);
    expect(body.code).toBe('GROUP_NOT_FOUND');
  });

  it('deletes a session (204), then answers 404', async () => {
    const group = await createGroup();
    const { body: session } = await call<Session>(srv, 'POST', '/v1/sessions', {
      json: { groupId: group.id },
    });
    const del = await call(srv, 'DELETE', `/v1/sessions/${session.id}`);
    expect(del.res.status).toBe(204);
    expect(del.body).toBe('');
    const got = await call<Problem>(srv, 'GET', `/v1/sessions/${session.id}`);
    expect(got.res.status).toBe(404);
    expect(got.body.code).toBe('SESSION_NOT_FOUND');
    expect((await call<Problem>(srv, 'DELETE', `/v1/sessions/${session.id}`)).res.status).toBe(404);
    expect(await sessionsOf(group.id)).toEqual([]);
    expect((await call(srv, 'GET', `/v1/groups/${group.id}`)).res.status).toBe(200);
  });

  it('get-or-create by external key: 201 the first time, then 200 with the same session', async () => {
    const group = await createGroup();
    const key = encodeURIComponent('telegram:-100123 ü');
    const first = await call<Session>(srv, 'PUT', `/v1/groups/${group.id}/sessions/by-key/${key}`);
    expect(first.res.status).toBe(201);
    expect(first.body.externalKey).toBe('telegram:-100123 ü');
    const second = await call<Session>(srv, 'PUT', `/v1/groups/${group.id}/sessions/by-key/${key}`);
    expect(second.res.status).toBe(200);
    expect(second.body).toEqual(first.body);
  });

  it('the same external key in another group is another session', async () => {
    const [a, b] = [await createGroup(), await createGroup()];
    const inA = await call<Session>(srv, 'PUT', `/v1/groups/${a.id}/sessions/by-key/chat-7`);
    const inB = await call<Session>(srv, 'PUT', `/v1/groups/${b.id}/sessions/by-key/chat-7`);
    expect([inA.res.status, inB.res.status]).toEqual([201, 201]);
    expect(inA.body.id).not.toBe(inB.body.id);
  });

  it('get-or-create in an unknown group is a 404 and creates nothing', async () => {
    const before = await call<Page<Session>>(srv, 'GET', '/v1/sessions?limit=500');
    const { res, body } = await call<Problem>(srv, 'PUT', `/v1/groups/${UNKNOWN_GROUP}/sessions/by-key/k`);
    expect(res.status).toBe(404);
    expect(body.code).toBe('GROUP_NOT_FOUND');
    const after = await call<Page<Session>>(srv, 'GET', '/v1/sessions?limit=500');
    expect(after.body.items).toEqual(before.body.items);
  });

  it('20 concurrent get-or-creates with one key make exactly one session', async () => {
    const group = await createGroup();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        call<Session>(srv, 'PUT', `/v1/groups/${group.id}/sessions/by-key/race`),
      ),
    );
    const statuses = results.map((r) => r.res.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(19);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    const listed = await sessionsOf(group.id);
    expect(listed.map((s) => s.id)).toEqual([results[0]!.body.id]);
  });

  it('POST with an external key already in use is a 409 and creates nothing', async () => {
    const group = await createGroup();
    const first = await call<Session>(srv, 'POST', '/v1/sessions', {
      json: { groupId: group.id, externalKey: 'dup' },
    });
    expect(first.res.status).toBe(201);
    const second = await call<Problem>(srv, 'POST', '/v1/sessions', {
      json: { groupId: group.id, externalKey: 'dup' },
    });
    expect(second.res.status).toBe(409);
    expect(second.body.code).toBe('SESSION_EXTERNAL_KEY_TAKEN');
    expect((await sessionsOf(group.id)).map((s) => s.id)).toEqual([first.body.id]);
    const ensured = await call<Session>(srv, 'PUT', `/v1/groups/${group.id}/sessions/by-key/dup`);
    expect(ensured.res.status).toBe(200);
    expect(ensured.body.id).toBe(first.body.id);
  });

  it('sessions without external keys do not collide', async () => {
    const group = await createGroup();
    const a = await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: group.id } });
    const b = await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: group.id } });
    expect([a.res.status, b.res.status]).toEqual([201, 201]);
    expect(await sessionsOf(group.id)).toHaveLength(2);
  });

  it('nothing above woke a session', async () => {
    const { body } = await call<Page<Session>>(srv, 'GET', '/v1/sessions?limit=500');
    expect(body.items.length).toBeGreaterThan(0);
    for (const s of body.items)
      expect({ status: s.status, generation: s.generation }).toEqual({ status: 'idle', generation: 0 });
  });
});

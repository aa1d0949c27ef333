import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Group, type Page, type Problem, type Session } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const UNKNOWN_GROUP = 'grp_000000000000000000000';
let folders = 0;
const nextFolder = (prefix = 'g') => `${prefix}-${++folders}`;

async function createGroup(srv: TestServer, body: Record<string, unknown> = {}): Promise<Group> {
  const { res, body: group } = await call<Group>(srv, 'POST', '/v1/groups', {
    json: { name: 'Team', folder: nextFolder(), ...body },
  });
  expect(res.status).toBe(201);
  return group;
}

/** Walks every page of a list endpoint, returning the page sizes and the items in order. */
async function allPages<T extends { id: string }>(
  srv: TestServer,
  path: string,
  limit: number,
): Promise<{ sizes: number[]; items: T[] }> {
  const sizes: number[] = [];
  const items: T[] = [];
  let cursor: string | null = null;
  const sep = path.includes('?') ? '&' : '?';
  do {
    const url: string = `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const { res, body } = await call<Page<T>>(srv, 'GET', url);
    expect(res.status).toBe(200);
    sizes.push(body.items.length);
    items.push(...body.items);
    if (body.nextCursor !== null) expect(body.nextCursor).toBe(body.items.at(-1)!.id);
    cursor = body.nextCursor;
  } while (cursor !== null);
  return { sizes, items };
}

describe.each(dbKinds())('groups over HTTP (%s)', (kind) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'docker' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('creates a group with defaults and gets it back', async () => {
    const folder = nextFolder('create');
    const { res, body } = await call<Group>(srv, 'POST', '/v1/groups', { json: { name: 'Support', folder } });
    expect(res.status).toBe(201);
    expect(body).toMatchObject({ name: 'Support', folder, trust: 'member', containerConfig: {} });
    expect(body.createdAt).toBe(body.updatedAt);

    const got = await call<Group>(srv, 'GET', `/v1/groups/${body.id}`);
    expect(got.res.status).toBe(200);
    expect(got.body).toEqual(body);
  });

  it('keeps trust and container settings', async () => {
    const containerConfig = {
      env: { LANG: 'C.UTF-8' },
      memoryMb: 512,
      cpus: 0.5,
      pids: 64,
      idleTimeoutMs: 60_000,
    };
    const group = await createGroup(srv, { trust: 'admin', containerConfig });
    expect(group.trust).toBe('admin');
    expect(group.containerConfig).toEqual(containerConfig);
    const got = await call<Group>(srv, 'GET', `/v1/groups/${group.id}`);
    expect(got.body.containerConfig).toEqual(containerConfig);
  });

  it('lists groups including new ones, oldest first', async () => {
    const a = await createGroup(srv);
    const b = await createGroup(srv);
    const { res, body } = await call<Page<Group>>(srv, 'GET', '/v1/groups?limit=500');
    expect(res.status).toBe(200);
    expect(body.nextCursor).toBeNull();
    const ids = body.items.map((g) => g.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids.indexOf(a.id)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(b.id)).toBeGreaterThan(ids.indexOf(a.id));
  });

  it('updates name, trust and container settings with PATCH', async () => {
    const group = await createGroup(srv, { name: 'Before' });
    const { res, body } = await call<Group>(srv, 'PATCH', `/v1/groups/${group.id}`, {
      json: { name: 'After', trust: 'admin', containerConfig: { memoryMb: 256 } },
    });
    expect(res.status).toBe(200);
    expect(body).toMatchObject({
      id: group.id,
      name: 'After',
      trust: 'admin',
      folder: group.folder,
      containerConfig: { memoryMb: 256 },
      createdAt: group.createdAt,
    });
    expect(Date.parse(body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(group.updatedAt));
    const got = await call<Group>(srv, 'GET', `/v1/groups/${group.id}`);
    expect(got.body).toEqual(body);
  });

  it('refuses to change the folder: it is an unknown field of an update', async () => {
    const group = await createGroup(srv);
    const { res, body } = await call<Problem>(srv, 'PATCH', `/v1/groups/${group.id}`, {
      json: { folder: 'moved' },
    });
    expect(res.status).toBe(400);
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.errors).toContainEqual(expect.objectContaining({ path: 'body/folder' }));
    const got = await call<Group>(srv, 'GET', `/v1/groups/${group.id}`);
    expect(got.body).toEqual(group);
  });

  it('refuses an empty update', async () => {
    const group = await createGroup(srv);
    const { res, body } = await call<Problem>(srv, 'PATCH', `/v1/groups/${group.id}`, { json: {} });
    expect(res.status).toBe(400);
    expect(body.code).toBe('VALIDATION_FAILED');
  });

  it('answers 404 for updates of unknown groups', async () => {
    const { res, body } = await call<Problem>(srv, 'PATCH', `/v1/groups/${UNKNOWN_GROUP}`, {
      json: { name: 'x' },
    });
    expect(res.status).toBe(404);
    expect(body.code).toBe('GROUP_NOT_FOUND');
  });

  it('deletes a group (204) and then no longer finds it (404)', async () => {
    const group = await createGroup(srv);
    const del = await call(srv, 'DELETE', `/v1/groups/${group.id}`);
    expect(del.res.status).toBe(204);
    expect(del.body).toBe('');
    const got = await call<Problem>(srv, 'GET', `/v1/groups/${group.id}`);
    expect(got.res.status).toBe(404);
    expect(got.body.code).toBe('GROUP_NOT_FOUND');
    const again = await call<Problem>(srv, 'DELETE', `/v1/groups/${group.id}`);
    expect(again.res.status).toBe(404);
    const list = await call<Page<Group>>(srv, 'GET', '/v1/groups?limit=500');
    expect(list.body.items.map((g) => g.id)).not.toContain(group.id);
  });

  it('deleting a group deletes its sessions', async () => {
    const group = await createGroup(srv);
    const s1 = await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: group.id } });
    const s2 = await call<Session>(srv, 'PUT', `/v1/groups/${group.id}/sessions/by-key/chat-1`);
    expect([s1.res.status, s2.res.status]).toEqual([201, 201]);
    expect((await call(srv, 'DELETE', `/v1/groups/${group.id}`)).res.status).toBe(204);
    for (const s of [s1.body, s2.body]) {
      const got = await call<Problem>(srv, 'GET', `/v1/sessions/${s.id}`);
      expect(got.res.status).toBe(404);
      expect(got.body.code).toBe('SESSION_NOT_FOUND');
    }
  });

  it('a taken folder is a 409 and creates nothing', async () => {
    const group = await createGroup(srv);
    const before = await call<Page<Group>>(srv, 'GET', '/v1/groups?limit=500');
    const { res, body } = await call<Problem>(srv, 'POST', '/v1/groups', {
      json: { name: 'Other', folder: group.folder },
    });
    expect(res.status).toBe(409);
    expect(body.code).toBe('GROUP_FOLDER_TAKEN');
    const after = await call<Page<Group>>(srv, 'GET', '/v1/groups?limit=500');
    expect(after.body.items).toEqual(before.body.items);
  });

  it('a deleted group frees its folder', async () => {
    const group = await createGroup(srv);
    expect((await call(srv, 'DELETE', `/v1/groups/${group.id}`)).res.status).toBe(204);
    const again = await call<Group>(srv, 'POST', '/v1/groups', {
      json: { name: 'Again', folder: group.folder },
    });
    expect(again.res.status).toBe(201);
    expect(again.body.id).not.toBe(group.id);
  });
});

describe.each(dbKinds())('group pagination (%s)', (kind) => {
  let srv: TestServer;
  let created: Group[];

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'docker' });
    created = [];
    for (let i = 0; i < 7; i++) created.push(await createGroup(srv, { name: `Group ${i}` }));
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('walks pages with the cursor until nextCursor is null', async () => {
    const { sizes, items } = await allPages<Group>(srv, '/v1/groups', 3);
    expect(sizes).toEqual([3, 3, 1]);
    // Ids sort by creation time (ties within a millisecond break at random), so the order is the ids' order.
    expect(items.map((g) => g.id)).toEqual(created.map((g) => g.id).sort());
  });

  it('a page that ends exactly at the last item has nextCursor null only when nothing follows', async () => {
    expect((await allPages<Group>(srv, '/v1/groups', 7)).sizes).toEqual([7]);
    const six = await allPages<Group>(srv, '/v1/groups', 6);
    expect(six.sizes).toEqual([6, 1]);
    expect(six.items).toHaveLength(7);
  });

  it('the default page holds everything here', async () => {
    const { res, body } = await call<Page<Group>>(srv, 'GET', '/v1/groups');
    expect(res.status).toBe(200);
    expect(body.items).toHaveLength(7);
    expect(body.nextCursor).toBeNull();
  });

  it('a cursor past the end gives an empty last page', async () => {
    const { res, body } = await call<Page<Group>>(srv, 'GET', `/v1/groups?cursor=${created.at(-1)!.id}`);
    expect(res.status).toBe(200);
    expect(body).toEqual({ items: [], nextCursor: null });
  });

  it('session lists page the same way, per group', async () => {
    const [g1, g2] = created;
    const mine: Session[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await call<Session>(srv, 'POST', '/v1/sessions', { json: { groupId: g1!.id } });
      mine.push(s.body);
      await call(srv, 'POST', '/v1/sessions', { json: { groupId: g2!.id } });
    }
    const filtered = await allPages<Session>(srv, `/v1/sessions?groupId=${g1!.id}`, 2);
    expect(filtered.sizes).toEqual([2, 2, 1]);
    expect(filtered.items.map((s) => s.id)).toEqual(mine.map((s) => s.id).sort());
    const everything = await allPages<Session>(srv, '/v1/sessions', 4);
    expect(everything.sizes).toEqual([4, 4, 2]);
  });
});

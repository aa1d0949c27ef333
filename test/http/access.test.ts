import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contract } from '../../src/http/route.ts';
import { loadSpec, type Operation } from '../../src/http/spec.ts';
import {
  type CreatedKey,
  closed,
  groupWorld,
  type KeyRole,
  newKey,
  openSocket,
  type Side,
} from '../support/access.ts';
import { call } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { type AccessRequest, FIXTURES, type World } from './access-fixtures.ts';

const ROLES: KeyRole[] = ['admin', 'operator', 'viewer'];
const SIDES: Side[] = ['own', 'other'];
const RANK = { public: 0, viewer: 1, operator: 2, admin: 3 } as const;

type Paths = Record<string, Record<string, { responses: Record<string, unknown> }>>;
const paths = (loadSpec() as { paths: Paths }).paths;
const isSocket = (op: Operation) => '101' in paths[op.path]![op.method.toLowerCase()]!.responses;

/** What the role table says a call answers: 403 for too small a role, 404 outside the key's groups, else success. */
function expected(op: Operation, role: KeyRole, side: Side): string {
  if (RANK[role] < RANK[op.role]) return '403 FORBIDDEN';
  if (side === 'other' && role !== 'admin') return '404 *_NOT_FOUND';
  const ok = FIXTURES[op.operationId]!.ok;
  if (ok) return String(ok.status);
  return isSocket(op) ? '101' : '2xx';
}

function outcome(status: number, code: string | undefined): string {
  if (status === 403) return `403 ${code}`;
  if (status === 404) return code?.endsWith('_NOT_FOUND') ? '404 *_NOT_FOUND' : `404 ${code}`;
  if (status >= 200 && status < 300) return '2xx';
  return String(status);
}

function url(op: Operation, req: AccessRequest): string {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(req.params![name]!));
  const query = new URLSearchParams(req.query ?? {}).toString();
  return query ? `${path}?${query}` : path;
}

describe('the role table', () => {
  it("is in the README exactly as openapi.yaml's x-berth-role gives it", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z]+ \/[^`]*)` \| (\w+) \|$/gm)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    const contracted = [...contract().values()].map((op) => `${op.method} ${op.path} ${op.role}`);
    expect(documented.sort()).toEqual(contracted.sort());
  });
});

describe.each(dbKinds())('access control by role and group (%s)', (kind) => {
  let srv: TestServer;
  let world: World;
  const keys = {} as Record<KeyRole, CreatedKey>;

  beforeAll(async () => {
    // No runtime: wake and image builds stop at the runtime check, after access was granted.
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
    world = { srv, own: await groupWorld(srv), other: await groupWorld(srv) };
    const own = [world.own.group.id];
    keys.admin = await newKey(srv, { role: 'admin' });
    keys.operator = await newKey(srv, { role: 'operator', groupIds: own });
    keys.viewer = await newKey(srv, { role: 'viewer', groupIds: own });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('has a fixture for every operation of the contract, and none for operations it lacks', () => {
    const ids = [...contract().keys()];
    expect(
      ids.filter((id) => !FIXTURES[id]),
      'operations without an access fixture',
    ).toEqual([]);
    expect(
      Object.keys(FIXTURES).filter((id) => !ids.includes(id)),
      'fixtures of unknown operations',
    ).toEqual([]);
  });

  it('answers every operation, for every role, in the own group and another, as x-berth-role says', async () => {
    const mismatches: string[] = [];
    const leaks: string[] = [];
    let calls = 0;
    const hidden = [world.other.group.id, world.other.session.id, world.other.message.id];
    for (const op of contract().values()) {
      const fixture = FIXTURES[op.operationId];
      if (!fixture)
        throw new Error(`no access fixture for ${op.operationId} in test/http/access-fixtures.ts`);
      for (const role of ROLES) {
        for (const side of SIDES) {
          const req = await fixture.request(world, side);
          if (!req) continue;
          const want = expected(op, role, side);
          const where = `${op.operationId} as ${role} (${side} group)`;
          calls++;
          if (isSocket(op)) {
            const ws = `${srv.url.replace(/^http/, 'ws')}${url(op, req)}`;
            const got = await openSocket(ws, keys[role].key);
            if (got.socket) {
              got.socket.close(1000);
              await closed(got.socket);
            }
            const seen = got.status === 101 ? '101' : outcome(got.status, got.code);
            if (seen !== want) mismatches.push(`${where}: expected ${want}, got ${seen}`);
            continue;
          }
          const { res, body } = await call<{ code?: string }>(srv, op.method, url(op, req), {
            headers: { authorization: `Bearer ${keys[role].key}` },
            ...(req.body !== undefined ? { json: req.body } : {}),
          });
          const seen = outcome(res.status, body.code);
          if (seen !== want)
            mismatches.push(`${where}: expected ${want}, got ${res.status} ${body.code ?? ''}`);
          // A group-limited key never sees another group's ids, whatever the operation answers.
          if (role !== 'admin' && res.ok) {
            const text = JSON.stringify(body);
            for (const id of hidden) if (text.includes(id)) leaks.push(`${where} reveals ${id}`);
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(leaks).toEqual([]);
    expect(calls).toBeGreaterThan(contract().size * ROLES.length);
  });
});

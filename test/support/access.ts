import { expect } from 'vitest';
import { WebSocket } from 'ws';
import { createImageBuild, recordReusedBuild } from '../../src/store/image-builds.ts';
import { call, type Group, type Message, type Session } from './contract.ts';
import type { TestServer } from './server.ts';

export type Side = 'own' | 'other';
export type KeyRole = 'admin' | 'operator' | 'viewer';

export interface CreatedKey {
  id: string;
  key: string;
  role: KeyRole;
  groupIds: string[] | null;
  expiresAt: string | null;
}

/** A group with a session, a message and a finished image build: what group-level operations address. */
export interface GroupWorld {
  group: Group;
  session: Session;
  message: Message;
  buildId: string;
}

let counter = 0;
export const unique = (prefix: string) => `${prefix}-${process.pid}-${++counter}`;

export async function asAdmin<T>(srv: TestServer, method: string, path: string, json?: unknown): Promise<T> {
  const { res, body } = await call<T>(srv, method, path, json === undefined ? {} : { json });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return body;
}

export async function newGroup(srv: TestServer): Promise<Group> {
  return asAdmin<Group>(srv, 'POST', '/v1/groups', { name: 'Access', folder: unique('acc') });
}

export async function newSession(srv: TestServer, groupId: string): Promise<Session> {
  return asAdmin<Session>(srv, 'POST', '/v1/sessions', { groupId });
}

/** A paused daily schedule, so it never fires while the walk runs. */
export async function newSchedule(srv: TestServer, sessionId: string): Promise<{ id: string }> {
  const created = await asAdmin<{ id: string }>(srv, 'POST', `/v1/sessions/${sessionId}/schedules`, {
    text: 'scheduled',
    cron: '0 9 * * *',
  });
  await asAdmin(srv, 'PATCH', `/v1/sessions/${sessionId}/schedules/${created.id}`, { paused: true });
  return created;
}

export async function newKey(
  srv: TestServer,
  body: { role: KeyRole; groupIds?: string[]; expiresAt?: string; name?: string },
): Promise<CreatedKey> {
  return asAdmin<CreatedKey>(srv, 'POST', '/v1/keys', { name: unique('key'), ...body });
}

export async function groupWorld(srv: TestServer): Promise<GroupWorld> {
  const group = await newGroup(srv);
  const session = await newSession(srv, group.id);
  const message = await asAdmin<Message>(srv, 'POST', `/v1/sessions/${session.id}/messages`, { text: 'hi' });
  const build = await recordReusedBuild(srv.store.db, {
    groupId: group.id,
    tag: `berth-group-${group.folder}:0000000000000000`,
    packages: { apt: [], npm: [] },
    ownerInstance: srv.parts.instanceId,
  });
  return { group, session, message, buildId: build.id };
}

/** A queued build that another instance owns, in a fresh group: cancelling it needs no runtime. */
export async function queuedBuild(srv: TestServer): Promise<{ groupId: string; buildId: string }> {
  const group = await newGroup(srv);
  const build = await createImageBuild(srv.store.db, {
    groupId: group.id,
    tag: `berth-group-${group.folder}:1111111111111111`,
    packages: { apt: [], npm: ['is-number'] },
    ownerInstance: 'another-instance',
  });
  return { groupId: group.id, buildId: build.id };
}

export interface SocketOutcome {
  /** 101 when the upgrade was accepted, else the HTTP status of the refusal. */
  status: number;
  code?: string;
  socket?: WebSocket;
}

/** Opens a WebSocket with a bearer token; resolves once it is open or refused. */
export function openSocket(url: string, token: string): Promise<SocketOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [], { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => resolve({ status: 101, socket: ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { code?: string }).code }),
      );
    });
    ws.once('error', reject);
  });
}

/** Resolves with the close code and reason once the socket closes. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: 'already closed' });
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

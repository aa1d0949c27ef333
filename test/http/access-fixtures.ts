import { expect } from 'vitest';
import {
  type GroupWorld,
  newGroup,
  newKey,
  newSchedule,
  newSession,
  queuedBuild,
  type Side,
  unique,
} from '../support/access.ts';
import { deliverFile, upload } from '../support/files.ts';
import type { TestServer } from '../support/server.ts';

/** A concrete request for an operation: path parameters, query, body. */
export interface AccessRequest {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

export interface World {
  srv: TestServer;
  own: GroupWorld;
  other: GroupWorld;
}

export interface Fixture {
  /**
   * A valid request against a resource of the key's own group or of another group. Undefined for
   * `other` when the operation names no group (its scoping is checked by what its answer leaks).
   */
  request(world: World, side: Side): Promise<AccessRequest | undefined> | AccessRequest | undefined;
  /** What an allowed call answers when it is not a 2xx, and why (the access test runs without a runtime). */
  ok?: { status: number; because: string };
}

const noRuntime = (status: number) => ({
  status,
  because: 'the access test runs without a container runtime',
});
const inGroup = (w: World, side: Side) => ({ groupId: w[side].group.id });
const inSession = (w: World, side: Side) => ({ sessionId: w[side].session.id });
const inSchedule = async (w: World, side: Side) => ({
  ...inSession(w, side),
  scheduleId: (await newSchedule(w.srv, w[side].session.id)).id,
});
const onlyOwn = (request: AccessRequest) => (_w: World, side: Side) => (side === 'own' ? request : undefined);

/**
 * One fixture per operationId of openapi.yaml. The access test fails for an operation without one:
 * a new route adds an entry here (a minimal valid request; fresh resources for destructive ones).
 */
export const FIXTURES: Record<string, Fixture> = {
  getHealth: { request: onlyOwn({}) },
  getReadiness: { request: onlyOwn({}), ok: noRuntime(503) },
  getConsole: { request: onlyOwn({}) },
  getConsoleAsset: { request: onlyOwn({ params: { asset: 'app.js' } }) },
  getMetrics: { request: onlyOwn({}) },
  getOpenApi: { request: onlyOwn({}) },
  getDocs: { request: onlyOwn({}) },
  getDocsAsset: { request: onlyOwn({ params: { asset: 'swagger-ui.css' } }) },

  createGroup: {
    request: (_w, side) => (side === 'own' ? { body: { name: 'G', folder: unique('cg') } } : undefined),
  },
  listGroups: { request: onlyOwn({}) },
  getGroup: { request: (w, side) => ({ params: inGroup(w, side) }) },
  updateGroup: { request: (w, side) => ({ params: inGroup(w, side), body: { name: 'Renamed' } }) },
  deleteGroup: { request: async (w) => ({ params: { groupId: (await newGroup(w.srv)).id } }) },

  buildGroupImage: {
    request: (w, side) => ({ params: inGroup(w, side), body: { npm: ['is-number@7.0.0'] } }),
    ok: noRuntime(503),
  },
  clearGroupImage: { request: (w, side) => ({ params: inGroup(w, side) }) },
  listImageBuilds: { request: (w, side) => ({ params: inGroup(w, side) }) },
  getImageBuild: { request: (w, side) => ({ params: { ...inGroup(w, side), buildId: w[side].buildId } }) },
  cancelImageBuild: { request: async (w) => ({ params: await queuedBuild(w.srv) }) },
  streamImageBuildOutput: {
    request: (w, side) => ({ params: { ...inGroup(w, side), buildId: w[side].buildId } }),
  },

  ensureSession: { request: (w, side) => ({ params: { ...inGroup(w, side), externalKey: unique('chat') } }) },
  createSession: { request: (w, side) => ({ body: inGroup(w, side) }) },
  listSessions: { request: (w, side) => (side === 'own' ? {} : { query: inGroup(w, side) }) },
  getSession: { request: (w, side) => ({ params: inSession(w, side) }) },
  deleteSession: {
    request: async (w, side) => ({ params: { sessionId: (await newSession(w.srv, w[side].group.id)).id } }),
  },
  wakeSession: { request: (w, side) => ({ params: inSession(w, side) }), ok: noRuntime(503) },
  stopSession: { request: (w, side) => ({ params: inSession(w, side) }) },
  interruptSession: { request: (w, side) => ({ params: inSession(w, side) }) },

  postMessage: { request: (w, side) => ({ params: inSession(w, side), body: { text: 'hello' } }) },
  listMessages: { request: (w, side) => ({ params: inSession(w, side) }) },
  getMessage: {
    request: (w, side) => ({ params: { ...inSession(w, side), messageId: w[side].message.id } }),
  },

  listFiles: { request: (w, side) => ({ params: inSession(w, side) }) },
  getFile: {
    request: async (w, side) => {
      const file = await deliverFile(w.srv, w[side].session.id, 'report.txt', 'report');
      return { params: { ...inSession(w, side), fileId: file.id } };
    },
  },
  listWorkspace: { request: (w, side) => ({ params: inSession(w, side) }) },
  getWorkspaceFile: {
    request: async (w, side) => {
      const name = `${unique('get')}.txt`;
      expect((await upload(w.srv, w[side].session.id, name, 'content')).status).toBe(201);
      return { params: inSession(w, side), query: { path: name } };
    },
  },
  putWorkspaceFile: {
    request: (w, side) => ({ params: inSession(w, side), query: { path: `up/${unique('f')}.txt` } }),
  },
  listEvents: { request: (w, side) => ({ params: inSession(w, side) }) },
  streamEvents: { request: (w, side) => ({ params: inSession(w, side), query: { after: '0' } }) },

  createSchedule: {
    request: (w, side) => ({ params: inSession(w, side), body: { text: 'daily', cron: '0 9 * * *' } }),
  },
  listSessionSchedules: { request: (w, side) => ({ params: inSession(w, side) }) },
  listSchedules: { request: (w, side) => (side === 'own' ? {} : { query: inGroup(w, side) }) },
  getSchedule: { request: async (w, side) => ({ params: await inSchedule(w, side) }) },
  updateSchedule: {
    request: async (w, side) => ({ params: await inSchedule(w, side), body: { text: 'changed' } }),
  },
  deleteSchedule: { request: async (w, side) => ({ params: await inSchedule(w, side) }) },

  checkMounts: { request: onlyOwn({ body: { trust: 'member', mounts: [] } }) },

  createKey: { request: onlyOwn({ body: { name: 'k', role: 'viewer' } }) },
  listKeys: { request: onlyOwn({}) },
  deleteKey: {
    request: async (w, side) =>
      side === 'own' ? { params: { keyId: (await newKey(w.srv, { role: 'viewer' })).id } } : undefined,
  },
  listAudit: { request: onlyOwn({}) },
};

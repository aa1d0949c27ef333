import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { call, expectProblem } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { deliverFile, upload } from '../support/files.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { newSession } from '../support/sessions.ts';

const AGENT_UID = loadConfig({}).containerUid;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Paths a client might send that must never reach the disk: each is a 400 before anything is opened. */
const HOSTILE_PATHS: [string, string][] = [
  ['..', 'parent'],
  ['../x.txt', 'parent file'],
  ['a/../../x.txt', 'climbing out through a directory'],
  ['/etc/passwd', 'absolute'],
  ['a\u0000b.txt', 'NUL byte'],
  ['a\u0001b.txt', 'control character'],
  ['a\u202eb.txt', 'bidi override'],
  [`${'x'.repeat(256)}.txt`, 'component over 255 bytes'],
  [`${'d/'.repeat(520)}x`, 'path over 1024 bytes'],
  ['a//b.txt', 'empty component'],
  ['./a.txt', 'dot component'],
  ['.env', 'leading dot'],
  ['a\\..\\b.txt', 'backslash'],
];

/** Things planted in the workspace (as an agent could) that must be refused, never followed. */
const PLANTED: [string, string, string][] = [
  ['passwd-link', 'a symlink to /etc/passwd', 'FILE_PATH_UNSAFE'],
  ['up/x.txt', 'a path through a symlink to ../../', 'FILE_PATH_UNSAFE'],
  ['other/secret.txt', "a path through a symlink into another session's folder", 'FILE_PATH_UNSAFE'],
  ['hard.txt', 'a hard link to a file outside the workspace', 'FILE_PATH_UNSAFE'],
  ['adir', 'a directory where a file is expected', 'FILE_IS_DIRECTORY'],
  ['plain.txt/x', 'a file where a directory is expected', 'FILE_NOT_DIRECTORY'],
];

describe.each(dbKinds())('files endpoints against hostile paths (%s)', (kind) => {
  let srv: TestServer;
  let s: { groupId: string; sessionId: string };
  let other: { groupId: string; sessionId: string };
  let root: string;
  let canary: string;

  beforeAll(async () => {
    srv = await startTestServer(kind, { BERTH_RUNTIME: 'container' });
    s = await newSession(srv);
    other = await newSession(srv);
    expect((await upload(srv, s.sessionId, 'plain.txt', 'plain')).status).toBe(201);
    expect((await upload(srv, other.sessionId, 'secret.txt', 'other session secret')).status).toBe(201);
    root = path.join(srv.dataDir, 'sessions', s.groupId, s.sessionId);
    const otherRoot = path.join(srv.dataDir, 'sessions', other.groupId, other.sessionId);
    canary = path.join(srv.dataDir, 'canary.txt');
    writeFileSync(canary, 'canary');
    symlinkSync('/etc/passwd', path.join(root, 'passwd-link'));
    symlinkSync('../../', path.join(root, 'up'));
    symlinkSync(otherRoot, path.join(root, 'other'));
    symlinkSync(canary, path.join(root, 'canary-link'));
    linkSync(canary, path.join(root, 'hard.txt'));
    mkdirSync(path.join(root, 'adir'));
    if (process.getuid?.() === 0) chownSync(path.join(root, 'adir'), AGENT_UID, AGENT_UID);
  });

  afterAll(async () => {
    await srv?.close();
  });

  const ws = (sessionId: string, op: 'workspace' | 'workspace/content', p: string) =>
    `/v1/sessions/${sessionId}/${op}?path=${encodeURIComponent(p)}`;

  it.each(HOSTILE_PATHS)('refuses %j (%s) on list, download and upload with a 400', async (p) => {
    const before = readdirSync(srv.dataDir).sort();
    for (const [method, op] of [
      ['GET', 'workspace'],
      ['GET', 'workspace/content'],
      ['PUT', 'workspace/content'],
    ] as const) {
      const { res, body } = await call<{ code: string }>(srv, method, ws(s.sessionId, op, p), {
        ...(method === 'PUT'
          ? { body: 'payload', headers: { 'content-type': 'application/octet-stream' } }
          : {}),
      });
      expect(res.status, `${method} ${op} ${JSON.stringify(p)}: ${JSON.stringify(body)}`).toBe(400);
      expect(['FILE_PATH_INVALID', 'VALIDATION_FAILED']).toContain(body.code);
      expectProblem(res, body, 400, body.code);
    }
    expect(readdirSync(srv.dataDir).sort()).toEqual(before);
    expect(readFileSync(canary, 'utf8')).toBe('canary');
  });

  it.each(PLANTED)(
    'refuses %j (%s) for download and upload, and does not list it',
    async (p, _what, code) => {
      const passwd = sha(readFileSync('/etc/passwd'));
      for (const method of ['GET', 'PUT'] as const) {
        const { res, body } = await call<{ code: string }>(
          srv,
          method,
          ws(s.sessionId, 'workspace/content', p),
          {
            ...(method === 'PUT'
              ? { body: 'overwrite', headers: { 'content-type': 'application/octet-stream' } }
              : {}),
          },
        );
        expectProblem(res, body, 400, code);
      }
      expect(sha(readFileSync('/etc/passwd'))).toBe(passwd);
      expect(readFileSync(canary, 'utf8')).toBe('canary');
      expect(
        readFileSync(
          path.join(srv.dataDir, 'sessions', other.groupId, other.sessionId, 'secret.txt'),
          'utf8',
        ),
      ).toBe('other session secret');
    },
  );

  it('lists plain files and directories only: no symlink, no hard link', async () => {
    const { res, body } = await call<{ entries: { name: string; type: string }[] }>(
      srv,
      'GET',
      ws(s.sessionId, 'workspace', ''),
    );
    expect(res.status).toBe(200);
    expect(body.entries.map((e) => `${e.type}:${e.name}`)).toEqual(['directory:adir', 'file:plain.txt']);
    for (const p of ['up', 'other']) {
      const listed = await call<{ code: string }>(srv, 'GET', ws(s.sessionId, 'workspace', p));
      expectProblem(listed.res, listed.body, 400, 'FILE_PATH_UNSAFE');
    }
  });

  it('writes through neither a symlink nor a hard link: the canary outside is untouched', async () => {
    for (const p of ['canary-link', 'hard.txt']) {
      const { res, body } = await call<{ code: string }>(
        srv,
        'PUT',
        ws(s.sessionId, 'workspace/content', p),
        {
          body: 'pwned',
          headers: { 'content-type': 'application/octet-stream' },
        },
      );
      expectProblem(res, body, 400, 'FILE_PATH_UNSAFE');
    }
    expect(readFileSync(canary, 'utf8')).toBe('canary');
  });

  it('refuses names that differ from an existing one only by case or Unicode normalisation', async () => {
    expect((await upload(srv, s.sessionId, 'Report.txt', 'one')).status).toBe(201);
    expect((await upload(srv, s.sessionId, 'café.txt'.normalize('NFC'), 'nfc')).status).toBe(201);
    for (const p of ['report.txt', 'REPORT.TXT', 'café.txt'.normalize('NFD')]) {
      const { res, body } = await call<{ code: string }>(
        srv,
        'PUT',
        ws(s.sessionId, 'workspace/content', p),
        {
          body: 'two',
          headers: { 'content-type': 'application/octet-stream' },
        },
      );
      expectProblem(res, body, 400, 'FILE_NAME_CLASH');
    }
    expect(readFileSync(path.join(root, 'Report.txt'), 'utf8')).toBe('one');
  });

  it('refuses hostile attachment names with a 400, writing and storing nothing', async () => {
    const fresh = await newSession(srv);
    const data = Buffer.from('x').toString('base64');
    const cases: unknown[][] = [
      [{ name: '../x.txt', data }],
      [{ name: '/etc/passwd', data }],
      [{ name: 'a/b.txt', data }],
      [{ name: '.env', data }],
      [{ name: 'a\u0000.txt', data }],
      [{ name: 'a\u0007.txt', data }],
      [{ name: '..', data }],
      [{ name: 'x'.repeat(256), data }],
      [
        { name: 'Report.txt', data },
        { name: 'report.txt', data },
      ],
      [
        { name: 'same.txt', data },
        { name: 'same.txt', data },
      ],
      [{ name: 'bad.txt', data: 'not base64!' }],
    ];
    for (const attachments of cases) {
      const { res, body } = await call<{ code: string }>(
        srv,
        'POST',
        `/v1/sessions/${fresh.sessionId}/messages`,
        {
          json: { text: 'files', attachments },
        },
      );
      expect(res.status, JSON.stringify(attachments)).toBe(400);
      expectProblem(res, body, 400, body.code);
    }
    expect(existsSync(path.join(srv.dataDir, 'sessions', fresh.groupId, fresh.sessionId, 'inbox'))).toBe(
      false,
    );
    const listed = await call<{ items: unknown[] }>(srv, 'GET', `/v1/sessions/${fresh.sessionId}/messages`);
    expect(listed.body.items).toEqual([]);
  });

  it("answers 404 for another session's file id, and 400 for a malformed one", async () => {
    const file = await deliverFile(srv, other.sessionId, 'theirs.txt', 'theirs');
    const own = await call<{ code: string }>(srv, 'GET', `/v1/sessions/${other.sessionId}/files/${file.id}`);
    expect(own.res.status).toBe(200);
    const cross = await call<{ code: string }>(srv, 'GET', `/v1/sessions/${s.sessionId}/files/${file.id}`);
    expectProblem(cross.res, cross.body, 404, 'FILE_NOT_FOUND');
    for (const id of ['..', '..%2F..%2Fetc%2Fpasswd', `${file.id}%00`]) {
      const bad = await call<{ code: string }>(srv, 'GET', `/v1/sessions/${s.sessionId}/files/${id}`);
      expect([400, 404]).toContain(bad.res.status);
      expect(String(bad.body.code)).not.toBe('INTERNAL');
    }
  });
});

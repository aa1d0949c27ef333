import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import createClient from 'openapi-fetch';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/files/store.ts';
import type { paths } from '../../src/http/api.d.ts';
import { call, expectProblem } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { deliverFile, upload } from '../support/files.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { newSession, until } from '../support/sessions.ts';

const MIB = 1024 * 1024;

describe.each(dbKinds())('files over HTTP (%s)', (kind) => {
  let srv: TestServer;
  let s: { groupId: string; sessionId: string };
  let root: string;

  beforeAll(async () => {
    srv = await startTestServer(kind, {
      BERTH_RUNTIME: 'container',
      BERTH_UPLOAD_MAX_BYTES: String(MIB),
      BERTH_ATTACHMENT_MAX_BYTES: String(64 * 1024),
      BERTH_MESSAGE_ATTACHMENTS_MAX_BYTES: String(96 * 1024),
    });
    s = await newSession(srv);
    root = path.join(srv.dataDir, 'sessions', s.groupId, s.sessionId);
  });

  afterAll(async () => {
    await srv?.close();
  });

  const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('.berth-upload-'));

  it('downloads a delivered file with its type and Content-Disposition, whole and by byte range', async () => {
    const file = await deliverFile(srv, s.sessionId, 'räport.txt', 'abcdefghij');
    const url = `/v1/sessions/${s.sessionId}/files/${file.id}`;
    const whole = await call<string>(srv, 'GET', url);
    expect(whole.res.status).toBe(200);
    expect(whole.body).toBe('abcdefghij');
    expect(whole.res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(whole.res.headers.get('content-disposition')).toBe(
      `attachment; filename="r?port.txt"; filename*=UTF-8''r%C3%A4port.txt`,
    );
    expect(whole.res.headers.get('accept-ranges')).toBe('bytes');
    const part = await call<string>(srv, 'GET', url, { headers: { range: 'bytes=2-4' } });
    expect(part.res.status).toBe(206);
    expect(part.body).toBe('cde');
    expect(part.res.headers.get('content-range')).toBe('bytes 2-4/10');
    const tail = await call<string>(srv, 'GET', url, { headers: { range: 'bytes=-3' } });
    expect([tail.res.status, tail.body]).toEqual([206, 'hij']);
    const listed = await call<{ items: { id: string; name: string }[]; nextCursor: string | null }>(
      srv,
      'GET',
      `/v1/sessions/${s.sessionId}/files?limit=500`,
    );
    expect(listed.body.items.map((f) => [f.id, f.name])).toContainEqual([file.id, 'räport.txt']);
    const past = await call<{ code: string }>(srv, 'GET', url, { headers: { range: 'bytes=20-30' } });
    expectProblem(past.res, past.body, 416, 'RANGE_NOT_SATISFIABLE');
    expect(past.res.headers.get('content-range')).toBe('bytes */10');
  });

  it('the generated client downloads a file byte for byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const file = await deliverFile(srv, s.sessionId, 'data.bin', bytes);
    const client = createClient<paths>({
      baseUrl: srv.url,
      headers: { authorization: `Bearer ${srv.token}` },
    });
    const { data, response } = await client.GET('/v1/sessions/{sessionId}/files/{fileId}', {
      params: { path: { sessionId: s.sessionId, fileId: file.id } },
      parseAs: 'arrayBuffer',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(data as ArrayBuffer).equals(bytes)).toBe(true);
    expect(file.sha256).toBe((await import('node:crypto')).createHash('sha256').update(bytes).digest('hex'));
  });

  it('uploads, lists and downloads workspace files; replacing answers 200', async () => {
    const first = await call<{ path: string; size: number }>(
      srv,
      'PUT',
      `/v1/sessions/${s.sessionId}/workspace/content?path=docs/a.txt`,
      {
        body: 'first',
        headers: { 'content-type': 'application/octet-stream' },
      },
    );
    expect([first.res.status, first.body.path, first.body.size]).toEqual([201, 'docs/a.txt', 5]);
    const again = await upload(srv, s.sessionId, 'docs/a.txt', 'second!');
    expect(again.status).toBe(200);
    const listed = await call<{ path: string; entries: { name: string; type: string; size: number }[] }>(
      srv,
      'GET',
      `/v1/sessions/${s.sessionId}/workspace?path=docs`,
    );
    expect(listed.body).toMatchObject({ path: 'docs', entries: [{ name: 'a.txt', type: 'file', size: 7 }] });
    const got = await call<string>(
      srv,
      'GET',
      `/v1/sessions/${s.sessionId}/workspace/content?path=docs/a.txt`,
    );
    expect([got.res.status, got.body]).toEqual([200, 'second!']);
    expect(got.res.headers.get('content-disposition')).toBe('attachment; filename=a.txt');
    expect(leftovers(path.join(root, 'docs'))).toEqual([]);
    const json = await call<{ code: string }>(
      srv,
      'PUT',
      `/v1/sessions/${s.sessionId}/workspace/content?path=j.txt`,
      {
        json: { not: 'bytes' },
      },
    );
    expectProblem(json.res, json.body, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(existsSync(path.join(root, 'j.txt'))).toBe(false);
  });

  it('cuts an oversized upload off with 413 and removes the partial file (declared length and streamed)', async () => {
    const big = Buffer.alloc(3 * MIB, 0x61);
    const declared = await upload(srv, s.sessionId, 'big.bin', big);
    const problem = await declared.json();
    expectProblem(declared, problem, 413, 'FILE_TOO_LARGE');
    // A chunked body gives no length up front: it is counted as it arrives and cut off past the cap.
    const chunks = Array.from({ length: 48 }, () => Buffer.alloc(64 * 1024, 0x62));
    const streamed = await fetch(
      `${srv.url}/v1/sessions/${s.sessionId}/workspace/content?path=streamed.bin`,
      {
        method: 'PUT',
        headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/octet-stream' },
        body: new ReadableStream({
          pull(controller) {
            const next = chunks.shift();
            if (next) controller.enqueue(next);
            else controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit,
    );
    expectProblem(streamed, await streamed.json(), 413, 'FILE_TOO_LARGE');
    expect(existsSync(path.join(root, 'big.bin'))).toBe(false);
    expect(existsSync(path.join(root, 'streamed.bin'))).toBe(false);
    expect(leftovers(root)).toEqual([]);
  });

  it('removes the partial file of an upload whose client goes away mid-body', async () => {
    const { port } = new URL(srv.url);
    const req = request({
      host: '127.0.0.1',
      port: Number(port),
      method: 'PUT',
      path: `/v1/sessions/${s.sessionId}/workspace/content?path=aborted.bin`,
      headers: {
        authorization: `Bearer ${srv.token}`,
        'content-type': 'application/octet-stream',
        'content-length': String(MIB / 2),
      },
    });
    req.on('error', () => {}); // the connection is cut on purpose
    req.write(Buffer.alloc(128 * 1024, 0x63));
    // The temporary file appears while the body streams in, then goes when the client does.
    await until(async () => (leftovers(root).length > 0 ? true : undefined));
    req.destroy();
    await until(async () => (leftovers(root).length === 0 ? true : undefined));
    expect(existsSync(path.join(root, 'aborted.bin'))).toBe(false);
  });

  it('writes attachments to inbox/<messageId>/ before the 202 and lists their paths in the text', async () => {
    const fresh = await newSession(srv);
    const csv = 'a,b\n1,2\n';
    const { res, body } = await call<{ id: string; text: string }>(
      srv,
      'POST',
      `/v1/sessions/${fresh.sessionId}/messages`,
      {
        json: {
          text: 'please read these',
          attachments: [
            { name: 'data.csv', contentType: 'text/csv', data: Buffer.from(csv).toString('base64') },
            { name: 'notes.txt', data: Buffer.from('notes').toString('base64') },
          ],
        },
      },
    );
    expect(res.status).toBe(202);
    const inbox = path.join(srv.dataDir, 'sessions', fresh.groupId, fresh.sessionId, 'inbox', body.id);
    expect(readFileSync(path.join(inbox, 'data.csv'), 'utf8')).toBe(csv);
    expect(readFileSync(path.join(inbox, 'notes.txt'), 'utf8')).toBe('notes');
    expect(body.text).toBe(
      `please read these\n\nAttached files:\n- /workspace/inbox/${body.id}/data.csv (8 bytes, text/csv)\n- /workspace/inbox/${body.id}/notes.txt (5 bytes)`,
    );
    const listed = await call<{ entries: { name: string }[] }>(
      srv,
      'GET',
      `/v1/sessions/${fresh.sessionId}/workspace?path=inbox/${body.id}`,
    );
    expect(listed.body.entries.map((e) => e.name)).toEqual(['data.csv', 'notes.txt']);
  });

  it('keeps one copy of the attachments when a post is retried with its Idempotency-Key', async () => {
    const fresh = await newSession(srv);
    const send = (text: string) =>
      call<{ id: string; code?: string }>(srv, 'POST', `/v1/sessions/${fresh.sessionId}/messages`, {
        headers: { 'idempotency-key': 'attach-once' },
        json: { text, attachments: [{ name: 'a.txt', data: Buffer.from('a').toString('base64') }] },
      });
    const first = await send('same');
    const again = await send('same');
    expect([first.res.status, again.res.status, again.body.id]).toEqual([202, 200, first.body.id]);
    const reused = await send('different');
    expectProblem(reused.res, reused.body, 422, 'IDEMPOTENCY_KEY_REUSED');
    const inbox = path.join(srv.dataDir, 'sessions', fresh.groupId, fresh.sessionId, 'inbox');
    expect(readdirSync(inbox)).toEqual([first.body.id]);
  });

  it('refuses attachments past the per-file and per-message caps with 413, writing nothing', async () => {
    const fresh = await newSession(srv);
    const post = (attachments: { name: string; data: string }[]) =>
      call<{ code: string }>(srv, 'POST', `/v1/sessions/${fresh.sessionId}/messages`, {
        json: { text: 'x', attachments },
      });
    const b64 = (n: number) => Buffer.alloc(n, 0x41).toString('base64');
    const one = await post([{ name: 'big.bin', data: b64(64 * 1024 + 1) }]);
    expectProblem(one.res, one.body, 413, 'FILE_TOO_LARGE');
    const all = await post([
      { name: 'a.bin', data: b64(50 * 1024) },
      { name: 'b.bin', data: b64(50 * 1024) },
    ]);
    expectProblem(all.res, all.body, 413, 'FILE_TOO_LARGE');
    expect(existsSync(path.join(srv.dataDir, 'sessions', fresh.groupId, fresh.sessionId, 'inbox'))).toBe(
      false,
    );
  });

  it('never serves what a file is swapped for between check and read (symlink race, bounded)', async () => {
    const secret = path.join(srv.dataDir, 'secret.txt');
    writeFileSync(secret, 'SECRET');
    expect((await upload(srv, s.sessionId, 'race.txt', 'safe')).status).toBe(201);
    const target = path.join(root, 'race.txt');
    // Another process swaps race.txt for a symlink to the secret and back, atomically, as fast as it can.
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs');
         const [target, secret] = process.argv.slice(1);
         for (let i = 0; i < 200000; i++) {
           fs.symlinkSync(secret, target + '.l'); fs.renameSync(target + '.l', target);
           fs.writeFileSync(target + '.f', 'safe'); fs.renameSync(target + '.f', target);
         }`,
        target,
        secret,
      ],
      { stdio: 'ignore' },
    );
    const seen = { safe: 0, refused: 0 };
    try {
      // At least 300 downloads, and on until both outcomes were seen (at most 3000).
      for (let i = 0; i < 3000 && (i < 300 || seen.refused === 0 || seen.safe === 0); i++) {
        const res = await srv.api(`/v1/sessions/${s.sessionId}/workspace/content?path=race.txt`);
        const text = await res.text();
        expect(text).not.toContain('SECRET');
        if (res.status === 200) {
          expect(text).toBe('safe');
          seen.safe++;
        } else {
          expect(res.status).toBe(400);
          expect(JSON.parse(text).code).toBe('FILE_PATH_UNSAFE');
          seen.refused++;
        }
      }
    } finally {
      swapper.kill();
    }
    // Both sides of the race were hit, so the check really ran against a moving target.
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.safe).toBeGreaterThan(0);
  });

  it('deletes delivered files with the session, and after their retention', async () => {
    const gone = await newSession(srv);
    const file = await deliverFile(srv, gone.sessionId, 'only-here.txt', `unique content ${gone.sessionId}`);
    const blob = srv.parts.files.blobPath(file.sha256);
    expect(statSync(blob).size).toBeGreaterThan(0);
    expect((await srv.api(`/v1/sessions/${gone.sessionId}`, { method: 'DELETE' })).status).toBe(204);
    expect(existsSync(blob)).toBe(false);

    const old = await deliverFile(srv, s.sessionId, 'old.txt', `old content ${s.sessionId}`);
    await srv.parts.files.prune();
    expect((await srv.api(`/v1/sessions/${s.sessionId}/files/${old.id}`)).status).toBe(200);
    // The same store with a 1 ms retention, as BERTH_FILE_RETENTION_MS=1 would run it.
    const strict = new FileStore({
      dataDir: srv.dataDir,
      store: srv.store,
      log: pino({ level: 'silent' }),
      retentionMs: 1,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await strict.prune();
    const expired = await call<{ code: string }>(srv, 'GET', `/v1/sessions/${s.sessionId}/files/${old.id}`);
    expectProblem(expired.res, expired.body, 404, 'FILE_NOT_FOUND');
    expect(existsSync(srv.parts.files.blobPath(old.sha256))).toBe(false);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { contentTypeOf } from '../../src/files/outbox.ts';
import type { FileRow } from '../../src/store/files.ts';
import type { TestServer } from './server.ts';

/** Puts a file into the service's file store for a session, as outbox collection does after a turn. */
export async function deliverFile(
  srv: TestServer,
  sessionId: string,
  name: string,
  content: string | Buffer,
): Promise<FileRow> {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-deliver-'));
  try {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    const handle = await open(file, 'r');
    try {
      return await srv.parts.files.add(handle, {
        sessionId,
        messageId: null,
        name,
        contentType: contentTypeOf(name),
      });
    } finally {
      await handle.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Uploads a file into a session's workspace through the API (PUT …/workspace/content). */
export async function upload(
  srv: TestServer,
  sessionId: string,
  filePath: string,
  body: string | Buffer,
): Promise<Response> {
  return srv.api(`/v1/sessions/${sessionId}/workspace/content?path=${encodeURIComponent(filePath)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body,
  });
}

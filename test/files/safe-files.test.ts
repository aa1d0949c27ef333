import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkName, checkPath, clashKey } from '../../src/files/names.ts';
import { collectOutbox } from '../../src/files/outbox.ts';
import { openFileBeneath } from '../../src/files/safe-open.ts';
import { tempDir } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { newSession } from '../support/sessions.ts';

const rules = { allowDotfiles: false };

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'opened';
  } catch (err) {
    const e = err as { code: string; extra?: { reason?: string } };
    return e.extra?.reason ? `${e.code}: ${e.extra.reason}` : e.code;
  }
}

describe('names and paths', () => {
  it('accepts ordinary names and refuses the rest, with a reason', () => {
    for (const ok of ['report.txt', 'Résumé 2024.pdf', 'a b', '数据.csv', 'x'.repeat(255)])
      expect(checkName(ok, rules)).toBe(ok);
    expect(checkName('.env', { allowDotfiles: true })).toBe('.env');
    for (const bad of [
      '',
      '.',
      '..',
      '.env',
      'a/b',
      'a\\b',
      'a\u0000b',
      'tab\there',
      'del\u007f',
      'x'.repeat(256),
      ' lead',
      'é'.repeat(128),
    ])
      expect(() => checkName(bad, rules), JSON.stringify(bad)).toThrow();
    expect(checkPath(undefined, rules)).toEqual([]);
    expect(checkPath('a/b/c.txt', rules)).toEqual(['a', 'b', 'c.txt']);
    for (const bad of ['/a', 'a/../b', 'a//b', 'a/', './a', 'C:x', `${'a/'.repeat(40)}b`])
      expect(() => checkPath(bad, rules), bad).toThrow();
  });

  it('folds case and normalisation into one clash key', () => {
    expect(clashKey('Café.TXT'.normalize('NFD'))).toBe(clashKey('café.txt'.normalize('NFC')));
    expect(clashKey('a.txt')).not.toBe(clashKey('b.txt'));
  });
});

describe('opening below a root', () => {
  const root = tempDir('berth-safe-open-');
  const outside = tempDir('berth-outside-');

  beforeAll(() => {
    writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    mkdirSync(path.join(root, 'sub'));
    writeFileSync(path.join(root, 'sub', 'ok.txt'), 'ok');
    symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'link.txt'));
    symlinkSync(outside, path.join(root, 'linkdir'));
    linkSync(path.join(outside, 'secret.txt'), path.join(root, 'hard.txt'));
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
  });

  it('opens a plain file and refuses links, FIFOs and directories without blocking or following', async () => {
    const opened = await openFileBeneath(root, ['sub', 'ok.txt']);
    expect((await opened.handle.readFile()).toString()).toBe('ok');
    expect(opened.path).toBe(path.join(root, 'sub', 'ok.txt'));
    await opened.handle.close();
    expect(await refusal(openFileBeneath(root, ['link.txt']))).toBe('FILE_PATH_UNSAFE: symlink');
    expect(await refusal(openFileBeneath(root, ['linkdir', 'secret.txt']))).toBe('FILE_PATH_UNSAFE: symlink');
    expect(await refusal(openFileBeneath(root, ['hard.txt']))).toBe('FILE_PATH_UNSAFE: hard link');
    expect(await refusal(openFileBeneath(root, ['fifo']))).toBe('FILE_PATH_UNSAFE: not a regular file');
    expect(await refusal(openFileBeneath(root, ['sub']))).toBe('FILE_IS_DIRECTORY');
    expect(await refusal(openFileBeneath(root, ['sub', 'ok.txt', 'x']))).toBe('FILE_NOT_DIRECTORY');
    expect(await refusal(openFileBeneath(root, ['missing.txt']))).toBe('WORKSPACE_PATH_NOT_FOUND');
    expect(await refusal(openFileBeneath(path.join(root, 'linkdir'), ['secret.txt']))).not.toBe('opened');
  });
});

describe('outbox collection', () => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer('pglite', { BERTH_RUNTIME: 'container' });
  });

  afterAll(async () => {
    await srv?.close();
  });

  it('moves plain files, leaves the rest, and stops at the quota', async () => {
    const s = await newSession(srv);
    const root = tempDir('berth-outbox-');
    const outbox = path.join(root, 'outbox');
    mkdirSync(outbox);
    writeFileSync(path.join(outbox, 'a.txt'), 'a'.repeat(600));
    writeFileSync(path.join(outbox, 'b.txt'), 'b'.repeat(600));
    writeFileSync(path.join(outbox, '.hidden'), 'h');
    execFileSync('mkfifo', [path.join(outbox, 'pipe')]);
    const opts = { root, sessionId: s.sessionId, messageId: 'msg_x', maxFiles: 10, quotaBytes: 1000, rules };
    const first = await collectOutbox(srv.parts.files, opts);
    expect(first.files.map((f) => f.name)).toEqual(['a.txt']);
    expect(first.skipped).toEqual([
      { name: '.hidden', reason: 'invalid name: must not start with a dot' },
      { name: 'b.txt', reason: 'quota' },
      { name: 'pipe', reason: 'not a regular file' },
    ]);
    expect(readFileSync(srv.parts.files.blobPath(first.files[0]!.sha256), 'utf8')).toBe('a'.repeat(600));
    // The outbox itself swapped for a symlink: nothing is collected through it.
    const swapped = tempDir('berth-outbox-');
    symlinkSync(outbox, path.join(swapped, 'outbox'));
    const through = await collectOutbox(srv.parts.files, { ...opts, root: swapped, quotaBytes: 10_000 });
    expect(through).toEqual({ files: [], skipped: [{ name: 'outbox', reason: 'symlink' }] });
  });
});

import { randomBytes } from 'node:crypto';
import { rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB_DIR } from '../../src/http/console/routes.ts';
import { tempDir } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('the console files at /console/{asset}', () => {
  let server: TestServer;
  /** A symlink in web/ to a file outside it, there while the server runs. */
  const link = `link-${randomBytes(4).toString('hex')}.js`;

  beforeAll(async () => {
    const outside = path.join(tempDir('berth-outside-'), 'secret.js');
    writeFileSync(outside, 'outside web/\n');
    symlinkSync(outside, path.join(WEB_DIR, link));
    server = await startTestServer('pglite', { BERTH_RUNTIME: 'container' });
  });
  afterAll(async () => {
    rmSync(path.join(WEB_DIR, link), { force: true });
    await server?.close();
  });

  it('serves its scripts and styles with their types, revalidated, under the console CSP', async () => {
    for (const [name, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['console.css', 'text/css; charset=utf-8'],
    ]) {
      const res = await fetch(`${server.url}/console/${name}`);
      await res.text();
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toBe(type);
      expect(res.headers.get('cache-control'), name).toBe('public, max-age=0');
      expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
      expect(res.headers.get('content-security-policy'), name).toMatch(
        /^default-src 'none'; script-src 'self'/,
      );
    }
  });

  it('serves no path outside web/, however it is spelled', async () => {
    for (const spelled of [
      '..%2fpackage.json',
      '%2e%2e%2fpackage.json',
      '..%5cpackage.json',
      'app.js%00.css',
      'APP.JS',
      'index.html',
      '.env.js',
      `${'a'.repeat(300)}.js`,
    ]) {
      const res = await fetch(`${server.url}/console/${spelled}`);
      expect(res.status, spelled).toBe(400);
      await res.text();
    }
  });

  it('does not follow a symlink in web/ out of it', async () => {
    const res = await fetch(`${server.url}/console/${link}`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('outside web/');
  });
});

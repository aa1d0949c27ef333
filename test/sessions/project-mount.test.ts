import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/db.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ask, newSession } from '../support/sessions.ts';

const SECRETS: Record<string, string> = {
  'sub/.env': 'SECRET=nested-env',
  'sub/deeper/.env.production': 'SECRET=deeper-env',
  '.npmrc': '//registry.example/:_authToken=npm-token',
  'keys/id_rsa': '-----BEGIN OPENSSH PRIVATE KEY-----',
  'certs/server.key': 'tls-key',
  'app/.config/gh/hosts.yml': 'oauth_token: gh-token',
};

describe.each(runtimesUnderTest())('what an admin agent sees of the project on %s', (runtime) => {
  let server: TestServer;

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime);
    const project = path.join(tempDir('berth-project-'), 'project');
    mkdirSync(project, { mode: 0o755 });
    const files: Record<string, string> = {
      ...SECRETS,
      'README.md': 'project readme',
      'sub/notes.txt': 'notes',
      '.git/config': '[remote "origin"]\n\turl = https://git-token@host/repo',
    };
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(project, rel)), { recursive: true });
      writeFileSync(path.join(project, rel), text);
    }
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_PROJECT_ROOT: project,
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('blocked names at any depth read empty, .git and other blocked directories show nothing, the rest is readable', async () => {
    const { sessionId } = await newSession(server, { trust: 'admin' });
    expect(await ask(server, sessionId, '!read /workspace/project/README.md')).toBe('project readme');
    expect(await ask(server, sessionId, '!read /workspace/project/sub/notes.txt')).toBe('notes');
    for (const rel of Object.keys(SECRETS).filter((r) => !r.startsWith('app/')))
      expect(await ask(server, sessionId, `!read /workspace/project/${rel}`), rel).toBe('');
    // A hidden directory is berth's empty directory: unreadable to the container user when berth runs as root.
    const emptyDir = ['', 'EACCES'];
    expect(emptyDir).toContain(await ask(server, sessionId, '!ls /workspace/project/app/.config/gh'));
    expect(emptyDir).toContain(await ask(server, sessionId, '!ls /workspace/project/.git'));
    expect(['ENOENT', 'EACCES']).toContain(
      await ask(server, sessionId, '!read /workspace/project/.git/config'),
    );
    expect(await ask(server, sessionId, '!write /workspace/project/sub/new.txt x')).toBe('EROFS');
  });
});

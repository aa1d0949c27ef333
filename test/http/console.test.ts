import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  browserSocket,
  focusedId,
  focusRingShown,
  hasChromium,
  launchChromium,
  overflowsSideways,
  rowSeqs,
  tabTo,
} from '../support/browser.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { type ApiEvent, json, until } from '../support/sessions.ts';

/** Written by every run and shown at the top of the README. */
const SCREENSHOT = fileURLToPath(new URL('../../docs/console.png', import.meta.url));
/** A tiny npm package for the image build (installed from the npm registry, as in test/images). */
const PACKAGE = 'is-number@7.0.0';
const runtime = runtimesUnderTest()[0];
const LONG_NAME = `${'quarterly-figures-'.repeat(8)}.csv`;
const chromium = hasChromium();

async function ensureSession(srv: TestServer, groupId: string, key: string): Promise<string> {
  const res = await srv.api(`/v1/groups/${groupId}/sessions/by-key/${key}`, { method: 'PUT' });
  return (await json<{ id: string }>(res)).id;
}

describe.runIf(chromium && runtime)('the web console in Chromium, with a real container', () => {
  let srv: TestServer;
  let browser: Browser;
  let page: Page;
  let groupId: string;
  let sessionId: string;
  const urls: string[] = [];
  let tag: string | undefined;

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime!);
    srv = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_ATTACHMENT_MAX_BYTES: '65536',
    });
    const group = await srv.api('/v1/groups', {
      method: 'POST',
      json: { name: 'Support', folder: 'support' },
    });
    groupId = (await json<{ id: string }>(group, 201)).id;
    await ensureSession(srv, groupId, 'chat-7');
    sessionId = await ensureSession(srv, groupId, 'chat-42');
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('request', (request) => urls.push(request.url()));
    page.on('websocket', (socket) => urls.push(socket.url()));
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    if (tag) execFileSync(runtime!, ['image', 'rm', '-f', tag], { stdio: 'pipe' });
  });

  it('takes the key from the keyboard and lists groups and sessions with their state', async () => {
    await page.goto(`${srv.url}/`);
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    await tabTo(page, 'key');
    expect(await focusRingShown(page)).toBe(true);
    // A wrong key comes back to the form with the reason, and the focus returns to the field.
    await page.keyboard.type('not-the-key');
    await page.keyboard.press('Enter');
    await page.locator('#login-error', { hasText: 'The key was refused' }).waitFor();
    expect(await focusedId(page)).toBe('key');
    await page.keyboard.type(srv.token);
    await page.keyboard.press('Enter');
    const link = page.locator(`a[data-session="${sessionId}"]`);
    await link.waitFor();
    expect(await link.textContent()).toMatch(/chat-42[\s\S]*idle[\s\S]*gen 0 · exit — · 0 tokens/);
    expect(await page.locator(`a[data-group="${groupId}"]`).textContent()).toContain('Support');
    expect(await page.evaluate('sessionStorage.getItem("berth.apiKey")')).toBe(srv.token);
    await link.focus();
    await page.keyboard.press('Enter');
    await page.locator('#live[data-state="live"]').waitFor();
  });

  it('shows stderr lines from the container live, and the reply to a message sent from the box', async () => {
    await tabTo(page, 'message');
    await page.keyboard.type('!stderr 5');
    await page.keyboard.press('Tab');
    expect(await focusedId(page)).toBe('send-button');
    expect(await focusRingShown(page)).toBe(true);
    await page.keyboard.press('Enter');
    const timeline = page.locator('#timeline');
    await timeline.locator('li[data-kind="log"]', { hasText: 'stderr line 5' }).waitFor({ timeout: 30_000 });
    await timeline.locator('li[data-kind="output"]', { hasText: 'stderr: 5 lines' }).waitFor();
    for (let i = 1; i <= 5; i++)
      expect(await timeline.locator('li[data-kind="log"]', { hasText: `stderr line ${i}` }).count()).toBe(1);

    await page.locator('#message').fill('hello from the console');
    await page.locator('#send-button').click();
    await timeline.locator('li[data-kind="output"]', { hasText: 'echo: hello from the console' }).waitFor();
    await timeline.locator('li[data-kind="lifecycle"]', { hasText: 'wake' }).first().waitFor();
    await page.locator('#session-facts', { hasText: 'running' }).waitFor();
  });

  it('attaches files from the page for the agent to read, shows refusals, and downloads what a reply delivers', async () => {
    const notes = `notes for ${sessionId}\nline two\n`;
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const timeline = page.locator('#timeline');
    const send = async (text: string) => {
      await page.locator('#message').fill(text);
      await page.locator('#send-button').click();
    };
    const chosen = () => page.locator('#attachments li .name').allTextContents();
    // The file input is labelled and the keyboard reaches it (after the Send button).
    await tabTo(page, 'attach');
    expect(await focusRingShown(page)).toBe(true);
    const input = page.getByLabel('Attach files');
    await input.setInputFiles([
      { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(notes) },
      { name: 'bytes.bin', mimeType: 'application/octet-stream', buffer: bytes },
      { name: 'junk.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') },
    ]);
    expect(await chosen()).toEqual(['notes.txt', 'bytes.bin', 'junk.txt']);
    await page.getByRole('button', { name: 'Remove junk.txt' }).click();
    expect(await chosen()).toEqual(['notes.txt', 'bytes.bin']);
    await send('see attached');
    const echoed = timeline.locator('li[data-kind="output"]', { hasText: 'echo: see attached' });
    const text = (await echoed.locator('.body').textContent({ timeout: 30_000 }))!;
    expect(await chosen()).toEqual([]);
    const messageId = /\/workspace\/inbox\/(msg_[\w-]+)\/notes\.txt/.exec(text)![1]!;
    expect(text.split('\n').slice(3)).toEqual([
      `- /workspace/inbox/${messageId}/notes.txt (${notes.length} bytes, text/plain)`,
      `- /workspace/inbox/${messageId}/bytes.bin (256 bytes, application/octet-stream)`,
    ]);
    // Every byte value survives the browser's base64, and the agent reads the file in its container.
    const inbox = `/v1/sessions/${sessionId}/workspace/content?path=inbox/${messageId}`;
    const stored = await srv.api(`${inbox}/bytes.bin`);
    expect(Buffer.from(await stored.arrayBuffer())).toEqual(bytes);
    await send(`!read /workspace/inbox/${messageId}/notes.txt`);
    await timeline.locator('li', { hasText: `notes for ${sessionId} line two` }).waitFor();

    // What the server refuses is shown with its detail; the text and the files stay for a retry.
    await input.setInputFiles({ name: 'big.bin', mimeType: 'text/plain', buffer: Buffer.alloc(70_000, 1) });
    await send('too big');
    const refused = (text: string) => page.locator('#send-error', { hasText: text }).waitFor();
    await refused('attachment big.bin is larger than 65536 bytes (FILE_TOO_LARGE)');
    expect(await page.locator('#message').inputValue()).toBe('too big');
    await page.getByRole('button', { name: 'Remove big.bin' }).click();
    await input.setInputFiles({ name: '.hidden', mimeType: 'text/plain', buffer: Buffer.from('x') });
    await page.locator('#send-button').click();
    await refused('attachments[0].name must not start with a dot (FILE_NAME_INVALID)');
    await page.getByRole('button', { name: 'Remove .hidden' }).click();

    // A file the agent leaves in outbox/ is a download control on its reply; the bytes match.
    const report = `quarterly numbers for ${sessionId}: 42`;
    await send(`!write /workspace/outbox/report.txt ${report}`);
    const control = timeline.locator('button[data-file]', { hasText: 'report.txt' });
    await control.waitFor();
    expect(await page.locator('#send-error').textContent()).toBe('');
    expect(await control.getAttribute('aria-label')).toBe(`Download report.txt, ${report.length} B`);
    const [download] = await Promise.all([page.waitForEvent('download'), control.click()]);
    expect(download.suggestedFilename()).toBe('report.txt');
    expect(download.url()).toMatch(/^blob:/);
    expect(readFileSync(await download.path(), 'utf8')).toBe(report);
    await page.locator('#status', { hasText: 'Downloaded report.txt.' }).waitFor();
  });

  it('resumes from the last seq after a dropped connection and after a pause, without gaps or duplicates', async () => {
    // A dropped connection (no close frame): the console reconnects with after=<last seq>.
    for (const client of srv.app.websocketServer.clients) client.terminate();
    await page.locator('#live:not([data-state="live"])').waitFor();
    await page.locator('#live[data-state="live"]').waitFor({ timeout: 30_000 });
    await page.locator('#message').fill('after the drop');
    await page.locator('#send-button').click();
    await page.locator('#timeline li', { hasText: 'echo: after the drop' }).waitFor();

    // Paused: events happen while no socket is open, and arrive once on resuming.
    await page.locator('#pause').check();
    await page.locator('#live[data-state="paused"]').waitFor();
    const res = await srv.api(`/v1/sessions/${sessionId}/messages`, {
      method: 'POST',
      json: { text: '!stderr 3' },
    });
    const { id } = await json<{ id: string }>(res, 202);
    await json(await srv.api(`/v1/sessions/${sessionId}/messages/${id}?wait=30000`), 200);
    expect(await page.locator('#timeline li', { hasText: 'stderr: 3 lines' }).count()).toBe(0);
    await page.locator('#pause').uncheck();
    await page.locator('#timeline li', { hasText: 'stderr: 3 lines' }).waitFor();

    // The page holds exactly the stored timeline: every seq once, in order.
    const stored = async () => {
      const page1 = await json<{ items: ApiEvent[] }>(
        await srv.api(`/v1/sessions/${sessionId}/events?after=0&limit=500`),
        200,
      );
      return page1.items.map((e) => e.seq);
    };
    const seqs = await until(async () => {
      const [shown, want] = [await rowSeqs(page), await stored()];
      return JSON.stringify(shown) === JSON.stringify(want) ? shown : undefined;
    });
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('interrupts, stops and wakes the session from its buttons', async () => {
    await page.locator('#interrupt').click();
    await page.locator('#status', { hasText: 'Interrupt:' }).waitFor();
    await page.locator('#stop').click();
    await page.locator('#status', { hasText: 'Stop: idle' }).waitFor({ timeout: 30_000 });
    await page.locator('#timeline li[data-kind="lifecycle"]', { hasText: 'exit' }).first().waitFor();
    await page.locator('#wake').click();
    await page.locator('#status', { hasText: /Wake: (running|starting) \(generation 2\)/ }).waitFor();
    await page.locator('#session-facts', { hasText: 'running' }).waitFor({ timeout: 30_000 });
    await page.locator('#message').fill('still here');
    await page.locator('#send-button').click();
    await page.locator('#timeline li', { hasText: 'echo: still here' }).waitFor();
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  });

  it('opens WebSockets from the browser with berth.v1 + bearer subprotocols, never with the key in a URL', async () => {
    expect(await browserSocket(page, sessionId, ['berth.v1', `bearer.${srv.token}`])).toBe('open berth.v1');
    // Alone, the bearer offer cannot be selected (berth never echoes a key): refused before the upgrade.
    expect(await browserSocket(page, sessionId, [`bearer.${srv.token}`])).toBe('error');
    expect(urls.length).toBeGreaterThan(5);
    expect(urls.filter((u) => u.includes(srv.token))).toEqual([]);
  });

  it('builds a group image from the form and shows its output live', async () => {
    await page.locator(`a[data-group="${groupId}"]`).click();
    await page.locator('#group-facts', { hasText: 'the base agent image' }).waitFor();
    await page.locator('#builds', { hasText: 'No builds yet.' }).waitFor();
    await page.locator('#apt').fill('Not_A_Package');
    await page.locator('#build button[type="submit"]').click();
    await page.locator('#status.error', { hasText: 'VALIDATION_FAILED' }).waitFor();

    await page.locator('#apt').fill('');
    await page.locator('#npm').fill(PACKAGE);
    await page.locator('#build button[type="submit"]').click();
    const output = page.locator('#build-output');
    await output.filter({ hasText: `$ npm install` }).waitFor({ timeout: 240_000 });
    await output.filter({ hasText: '— succeeded' }).waitFor({ timeout: 240_000 });
    const build = page.locator('#builds li', { hasText: PACKAGE });
    await build.locator('.badge', { hasText: 'succeeded' }).waitFor();
    tag = (await build.locator('.meta').textContent())!.split(' ')[0]!;
    await page.locator('#group-facts', { hasText: tag }).waitFor();
  }, 300_000);

  it('labels tool calls, usage and lifecycle events (the echo agent makes no tool calls)', async () => {
    const described = await page.evaluate(`import('/console/timeline.js').then((m) => [
      m.describe({ kind: 'tool', stream: 'start', data: { name: 'Bash', input: '{"command":"ls"}' } }),
      m.describe({ kind: 'tool', stream: 'end', data: { name: 'Bash', result: 'a.txt', isError: true } }),
      m.describe({ kind: 'usage', stream: null, data: { inputTokens: 20, outputTokens: 8, costUsd: 0.0125 } }),
      m.describe({ kind: 'lifecycle', stream: null, data: { type: 'exit', reason: 'idle', exitCode: 0 } }),
    ])`);
    expect(described).toEqual([
      { label: 'tool start', body: 'Bash {"command":"ls"}' },
      { label: 'tool end', body: 'Bash (error) a.txt' },
      { label: 'usage', body: 'in 20 · out 8 · $0.0125' },
      { label: 'exit', body: '{"reason":"idle","exitCode":0}' },
    ]);
  });

  it('fits 1280×800 and 390×844 without sideways scrolling', async () => {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      await page.setViewportSize(viewport);
      for (const hash of [`#/sessions/${sessionId}`, `#/groups/${groupId}`]) {
        await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
        await page.locator(hash.includes('sessions') ? '#session' : '#group').waitFor();
        // The chosen-file list and the timeline's download control must fit too.
        if (hash.includes('sessions')) {
          await page
            .getByLabel('Attach files')
            .setInputFiles({ name: LONG_NAME, mimeType: 'text/csv', buffer: Buffer.from('a') });
          await page.locator('#timeline button[data-file]').first().waitFor();
        }
        expect(await overflowsSideways(page), `${viewport.width}×${viewport.height} ${hash}`).toBe(false);
      }
    }
    // Forgetting the key clears it from the tab and returns to the key form, which fits too.
    await page.locator('#signout').click();
    await page.locator('#login').waitFor();
    expect(await focusedId(page)).toBe('key');
    expect(await page.evaluate('sessionStorage.getItem("berth.apiKey")')).toBeNull();
    expect(await overflowsSideways(page)).toBe(false);
  });
});

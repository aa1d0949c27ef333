import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { json } from '../support/sessions.ts';

/** A hand-set token that is valid for HTTP but not as a WebSocket subprotocol ('/' and '=' are not token characters). */
const TOKEN = 'console/base64+token=';

describe.runIf(hasChromium())('the console with a key a browser WebSocket cannot carry', () => {
  let srv: TestServer;
  let browser: Browser;
  let page: Page;
  let sessionId: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    srv = await startTestServer('pglite', { BERTH_RUNTIME: 'container', BERTH_API_TOKEN: TOKEN });
    const group = await srv.api('/v1/groups', { method: 'POST', json: { name: 'Keys', folder: 'keys' } });
    const { id: groupId } = await json<{ id: string }>(group, 201);
    const session = await srv.api('/v1/sessions', { method: 'POST', json: { groupId } });
    sessionId = (await json<{ id: string }>(session, 201)).id;
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
  });
  afterAll(async () => {
    await browser?.close();
    await srv?.close();
  });

  it('opens the session and says why its live view cannot connect, without a script error', async () => {
    await page.goto(`${srv.url}/`);
    await page.locator('#key').fill(TOKEN);
    await page.locator('#key').press('Enter');
    await page.locator(`a[data-session="${sessionId}"]`).click();
    await page.locator('#live', { hasText: 'cannot carry' }).waitFor();
    await page.locator('#session-facts', { hasText: sessionId }).waitFor();
    expect(pageErrors).toEqual([]);
  });
});

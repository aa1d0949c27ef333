import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { specPath } from '../../src/http/spec.ts';
import { hasChromium, launchChromium } from '../support/browser.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const haveChromium = hasChromium();

describe('GET /docs', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('pglite', { BERTH_RUNTIME: 'container' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves a page that loads only berth-served assets, no inline script, under a self-only CSP', async () => {
    const res = await fetch(`${server.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    const html = await res.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const ref of refs) expect(ref, ref).toMatch(/^\/docs\/[\w.-]+$/);
    // Every script has a src: nothing inline for the CSP to refuse.
    expect(
      [...html.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)].every((m) => /src=/.test(m[1]!) && m[2] === ''),
    ).toBe(true);
    for (const ref of refs) {
      const asset = await fetch(`${server.url}${ref}`);
      expect(asset.status, ref).toBe(200);
      const body = await asset.arrayBuffer();
      expect(body.byteLength, ref).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${server.url}/docs/berth-init.js`)).text();
    expect(init).toContain("url: '/openapi.yaml'");
    const bundle = await fetch(`${server.url}/docs/swagger-ui-bundle.js`);
    expect(bundle.headers.get('content-type')).toMatch(/javascript/);
  });

  it('serves openapi.yaml itself, without a key', async () => {
    const res = await fetch(`${server.url}/openapi.yaml`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/yaml/);
    expect(await res.text()).toBe(readFileSync(specPath, 'utf8'));
  });

  it.runIf(haveChromium)(
    'renders every operation in Chromium, with no CSP or script error and no request leaving berth; Try it out reaches this berth',
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on('console', (m) => {
          if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
        page.on('requestfailed', (r) => problems.push(`failed: ${r.url()}`));
        const outside: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith(`${server.url}/`) && !r.url().startsWith('data:')) outside.push(r.url());
        });
        await page.goto(`${server.url}/docs`);
        await page.waitForSelector('.opblock-summary-path');
        const shown = await page.$$eval('.opblock-summary-path', (els) => els.length);
        const spec = readFileSync(specPath, 'utf8');
        expect(shown).toBe([...spec.matchAll(/^ {6}operationId: /gm)].length);
        // "Try it out" reaches this berth (on a random port, not the contract's example address).
        const health = page.locator('.opblock', { has: page.locator('[data-path="/healthz"]') });
        await health.locator('.opblock-summary').click();
        await health.locator('button.try-out__btn').click();
        await health.locator('button.execute').click();
        const status = health.locator('.live-responses-table tr.response .response-col_status').first();
        await status.waitFor();
        expect((await status.textContent())?.trim()).toBe('200');
        expect(problems).toEqual([]);
        expect(outside).toEqual([]);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );

  it('serves its assets cacheable for an hour, with their type not to be sniffed', async () => {
    for (const [name, type] of [
      ['swagger-ui.css', /^text\/css/],
      ['swagger-ui-bundle.js', /javascript/],
      ['favicon-32x32.png', /^image\/png$/],
    ] as const) {
      const res = await fetch(`${server.url}/docs/${name}`);
      await res.arrayBuffer();
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type'), name).toMatch(type);
      expect(res.headers.get('cache-control'), name).toBe('public, max-age=3600');
      expect(res.headers.get('x-content-type-options'), name).toBe('nosniff');
    }
    for (const path of ['/docs', '/docs/berth-init.js']) {
      const res = await fetch(`${server.url}${path}`);
      await res.text();
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
    }
  });

  it('serves nothing else of the package and no path outside it', async () => {
    for (const name of [
      'index.html',
      'swagger-initializer.js',
      'package.json',
      '..%2Fpackage.json',
      '.env',
    ]) {
      const res = await fetch(`${server.url}/docs/${name}`);
      expect(res.status, name).toBe(404);
      expect(((await res.json()) as { code: string }).code, name).toBe('DOCS_ASSET_NOT_FOUND');
    }
  });
});

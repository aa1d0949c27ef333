import { existsSync } from 'node:fs';
import process from 'node:process';
import { type Browser, chromium, type Page } from 'playwright-core';
import { needs } from './needs.ts';

/** Debian's chromium, driven by playwright-core (its own browser downloads are never used). */
export const CHROMIUM = process.env.TEST_CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Whether Chromium is installed: fails in CI when it is not, else skips loudly. */
export const hasChromium = () =>
  needs('chromium', existsSync(CHROMIUM), 'apt-get install -y chromium (or set TEST_CHROMIUM)');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 60_000 });
}

/** Whether the page scrolls sideways (a layout that does not fit the viewport). */
export async function overflowsSideways(page: Page): Promise<boolean> {
  return page.evaluate('document.documentElement.scrollWidth > document.documentElement.clientWidth');
}

/** The id of the focused element (tsc sees no DOM types here, hence a string expression). */
export async function focusedId(page: Page): Promise<string> {
  return page.evaluate('document.activeElement ? document.activeElement.id : ""');
}

/** Presses Tab until the element with this id has focus; at most `max` presses. */
export async function tabTo(page: Page, id: string, max = 25): Promise<number> {
  for (let presses = 1; presses <= max; presses++) {
    await page.keyboard.press('Tab');
    if ((await focusedId(page)) === id) return presses;
  }
  throw new Error(`#${id} not reached with ${max} presses of Tab`);
}

/** Whether the focused element draws a focus ring (the console's :focus-visible outline). */
export async function focusRingShown(page: Page): Promise<boolean> {
  return page.evaluate(
    '(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0; })()',
  );
}

/** What a browser WebSocket with these subprotocols does: `open <selected protocol>` or `error`. */
export function browserSocket(page: Page, sessionId: string, protocols: string[]): Promise<string> {
  return page.evaluate(`new Promise((resolve) => {
    const ws = new WebSocket(location.origin.replace('http', 'ws') + '/v1/sessions/${sessionId}/stream', ${JSON.stringify(protocols)});
    ws.onopen = () => { resolve('open ' + ws.protocol); ws.close(); };
    ws.onerror = () => resolve('error');
  })`);
}

export const rowSeqs = (page: Page): Promise<number[]> =>
  page.$$eval('#timeline li[data-seq]', (rows) => rows.map((row) => Number(row.getAttribute('data-seq'))));

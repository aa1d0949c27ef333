import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { logDestination } from '../src/logger.ts';
import { BerthProcess } from './support/berth-process.ts';
import { freePort } from './support/pg-cluster.ts';

const TOKEN = 'berth_LogFormatToken0123456789abcdef';

const isJson = (line: string) => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};

/**
 * berth as its own process, its stdout a pipe into a file: no model credential (the start-up warning),
 * one request with the token in its query (redacted in either format), then its whole log.
 */
async function runBerth(env: Record<string, string>): Promise<string[]> {
  const berth = new BerthProcess(await freePort(), {
    BERTH_API_TOKEN: TOKEN,
    BERTH_AGENT: 'claude',
    BERTH_RUNTIME: 'container',
    BERTH_BUILD_IMAGE: 'false',
    BERTH_LOG_LEVEL: 'info',
    ...env,
  });
  try {
    await berth.start();
    expect((await fetch(`${berth.url}/v1/groups?access_token=${TOKEN}`)).status).toBe(401);
  } finally {
    // A stopped process has flushed its synchronous writes.
    await berth.stop();
  }
  return readFileSync(berth.logFile, 'utf8').split('\n').filter(Boolean);
}

describe('log format', () => {
  it('is JSON lines when stdout is not a terminal, with the missing credential named at start', async () => {
    const lines = await runBerth({});
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.filter((l) => !isJson(l))).toEqual([]);
    const warning = lines.map((l) => JSON.parse(l)).find((l) => l.check === 'modelCredential');
    expect(warning.level).toBe(40);
    expect(warning.msg).toMatch(/no model credential.*ANTHROPIC_API_KEY.*CLAUDE_CODE_OAUTH_TOKEN/);
    const text = lines.join('\n');
    expect(text).toContain('access_token=[redacted]');
    expect(text).not.toContain(TOKEN);
  }, 90_000);

  it('is human-readable with BERTH_LOG_FORMAT=pretty, and still redacted', async () => {
    const lines = await runBerth({ BERTH_LOG_FORMAT: 'pretty' });
    expect(lines.filter(isJson)).toEqual([]);
    // pino-pretty's shape: "[time] LEVEL (...): message"; no terminal, so no colour codes.
    expect(
      lines.find((l) => /\] WARN: no model credential is configured: set ANTHROPIC_API_KEY/.test(l)),
    ).toBeDefined();
    const text = lines.join('\n');
    expect(text).not.toContain('\u001b[');
    expect(text).toContain('access_token=[redacted]');
    expect(text).not.toContain(TOKEN);
  }, 90_000);

  it('picks pretty lines for a terminal only when the format is auto', () => {
    expect(logDestination('auto', { isTTY: false })).toBeUndefined();
    expect(logDestination('json', { isTTY: true })).toBeUndefined();
    const terminal = logDestination('auto', { isTTY: true });
    const forced = logDestination('pretty', { isTTY: false });
    expect(typeof terminal?.write).toBe('function');
    expect(typeof forced?.write).toBe('function');
  });
});

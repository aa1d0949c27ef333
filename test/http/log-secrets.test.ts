import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BerthProcess } from '../support/berth-process.ts';
import { freePort } from '../support/pg-cluster.ts';

const TOKEN = 'berth_LogSecretToken0123456789abcdef';
const MODEL_KEY = 'sk-ant-LogSecretModelKey0123456789';

/** Opens a WebSocket and resolves with how it ended (opened, or the refusal's status). */
function tryStream(url: string, protocols: string[] = []): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(String(res.statusCode));
      ws.terminate();
    });
    ws.on('error', () => resolve('error'));
  });
}

// berth as its own process at the most verbose level; its whole log is searched for the secrets.
describe('secrets stay out of the logs', () => {
  let berth: BerthProcess;
  let sessionId: string;

  beforeAll(async () => {
    berth = new BerthProcess(await freePort(), {
      BERTH_API_TOKEN: TOKEN,
      ANTHROPIC_API_KEY: MODEL_KEY,
      BERTH_LOG_LEVEL: 'trace',
      BERTH_AGENT: 'echo',
    });
    await berth.start();
    const g = (await (
      await berth.api('/v1/groups', { method: 'POST', json: { name: 'logs', folder: 'logs' } })
    ).json()) as { id: string };
    const s = (await (
      await berth.api('/v1/sessions', { method: 'POST', json: { groupId: g.id } })
    ).json()) as {
      id: string;
    };
    sessionId = s.id;
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('never logs the API token sent by header, query or subprotocol, nor the model credential', async () => {
    const ws = berth.url.replace('http', 'ws');
    const byHeader = await berth.api('/v1/groups');
    expect(byHeader.status).toBe(200);
    // The query form is for WebSocket upgrades only: elsewhere it authenticates nothing.
    const byQuery = await fetch(`${berth.url}/v1/groups?access_token=${TOKEN}`);
    expect(byQuery.status).not.toBe(200);
    expect(await tryStream(`${ws}/v1/sessions/${sessionId}/stream?access_token=${TOKEN}`)).toBe('open');
    expect(await tryStream(`${ws}/v1/sessions/${sessionId}/stream`, ['berth.v1', `bearer.${TOKEN}`])).toBe(
      'open',
    );
    const wrong = await fetch(`${berth.url}/v1/groups`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    // Let the last log lines reach the file.
    await sleep(300);
    await berth.stop();
    const log = readFileSync(berth.logFile, 'utf8');
    expect(log).toContain('access_token=[redacted]');
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain(MODEL_KEY);
  });
});

describe('a generated API token', () => {
  let berth: BerthProcess;

  beforeAll(async () => {
    // Empty: no token configured, so berth generates one; its log goes to a file, not a terminal.
    berth = new BerthProcess(await freePort(), { BERTH_API_TOKEN: '' });
    await berth.start();
  });
  afterAll(async () => {
    await berth?.stop();
  });

  it('is named by its file in a log that is not a terminal, never written into it', async () => {
    await berth.stop();
    const token = readFileSync(path.join(berth.dataDir, 'api-token'), 'utf8').trim();
    expect(token.length).toBeGreaterThan(20);
    const log = readFileSync(berth.logFile, 'utf8');
    expect(log).toContain('generated API token: read it from the file');
    expect(log).not.toContain(token);
  });
});

import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { newKey } from '../support/access.ts';
import { type FakeModel, startFakeModel } from '../support/fake-model.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { collectEvents, json, lifecycle, newSession, post, until } from '../support/sessions.ts';

const REAL_KEY = 'sk-ant-real-key-for-metrics-tests';
const USAGE = {
  input_tokens: 300,
  output_tokens: 20,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};
// The echo agent's `!fetch` hook makes one Messages API call through the credential proxy.
const MODEL_CALL =
  '!fetch POST /v1/messages {"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}';

type Labels = Record<string, string>;

/** The samples of a Prometheus text page: just enough reading for these assertions. */
function samples(text: string): Array<{ name: string; labels: Labels; value: number }> {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]),
      );
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

/** The value of one series (0 when it has not appeared yet: counters with labels start absent). */
function value(text: string, name: string, labels: Labels = {}): number {
  const found = samples(text).find(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value ?? 0;
}

// One runtime is enough: what is counted does not depend on the engine (the runtime suites cover that).
const runtime = runtimesUnderTest()[0];

describe.runIf(runtime)('GET /metrics while a session runs', () => {
  let server: TestServer;
  let model: FakeModel;
  const scrape = async () => {
    const res = await server.api('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime!);
    model = await startFakeModel({ expectedKey: REAL_KEY, usage: USAGE, reply: 'counted' });
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_PROXY_UPSTREAM: model.url,
      ANTHROPIC_API_KEY: REAL_KEY,
    });
  });
  afterAll(async () => {
    await server?.close();
    await model?.close();
  });

  it('is for admins: 401 without a key, 403 for viewer and operator keys', async () => {
    const anonymous = await fetch(`${server.url}/metrics`);
    expect(anonymous.status).toBe(401);
    for (const role of ['viewer', 'operator'] as const) {
      const { key } = await newKey(server, { role });
      const res = await server.api('/metrics', { headers: { authorization: `Bearer ${key}` } });
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([403, 'FORBIDDEN']);
    }
  });

  it('says in readyz that the echo agent needs no model credential', async () => {
    const ready = await json<{ checks: { modelCredential: { ok: boolean; detail: string } } }>(
      await server.api('/readyz'),
    );
    // The echo agent needs no credential; the proxy still holds one here.
    expect(ready.checks.modelCredential).toEqual({ ok: true, detail: 'not needed by the echo agent' });
  });

  it('moves wakes, messages, events, containers, viewers, proxy traffic and tokens as a session runs', async () => {
    const before = await scrape();
    for (const name of [
      'berth_containers_running',
      'berth_viewers_connected',
      'process_resident_memory_bytes',
    ])
      expect(samples(before).some((s) => s.name === name)).toBe(true);
    const { groupId, sessionId } = await newSession(server);

    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/sessions/${sessionId}/stream?after=0`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(value(await scrape(), 'berth_viewers_connected')).toBe(
      value(before, 'berth_viewers_connected') + 1,
    );

    const call = await post(server, sessionId, MODEL_CALL);
    const hello = await post(server, sessionId, 'hello');
    for (const m of [call, hello]) {
      const done = await json<{ status: string }>(
        await server.api(`/v1/sessions/${sessionId}/messages/${m.id}?wait=30000`),
        200,
      );
      expect(done.status).toBe('done');
    }
    // The proxy's usage is saved (and counted) just after the response: its event says it is there.
    await collectEvents(server, sessionId, (e) => lifecycle(e, 'usage').length > 0);

    const during = await scrape();
    const moved = (name: string, labels: Labels = {}) =>
      value(during, name, labels) - value(before, name, labels);
    expect(moved('berth_wakes_total', { result: 'started' })).toBe(1);
    expect(moved('berth_wake_duration_seconds_count')).toBe(1);
    expect(value(during, 'berth_containers_running')).toBe(1);
    expect(value(during, 'berth_sessions', { status: 'running' })).toBe(1);
    for (const status of ['accepted', 'delivered', 'done'])
      expect(moved('berth_messages_total', { status }), status).toBe(2);
    expect(moved('berth_message_delivery_seconds_count')).toBe(2);
    expect(moved('berth_events_appended_total', { kind: 'output' })).toBe(2);
    expect(moved('berth_events_appended_total', { kind: 'lifecycle' })).toBeGreaterThanOrEqual(2);
    expect(value(during, 'berth_model_tokens_total', { group: groupId, kind: 'input' })).toBe(300);
    expect(value(during, 'berth_model_tokens_total', { group: groupId, kind: 'output' })).toBe(20);

    ws.close();
    await until(async () =>
      value(await scrape(), 'berth_viewers_connected') === value(before, 'berth_viewers_connected')
        ? true
        : undefined,
    );

    // Proxy traffic is saved with the lease renewal and at the run's end.
    expect((await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' })).status).toBeLessThan(300);
    const after = await until(async () => {
      const text = await scrape();
      return value(text, 'berth_proxy_requests_total', { group: groupId }) === 1 ? text : undefined;
    });
    expect(value(after, 'berth_proxy_bytes_total', { group: groupId, direction: 'in' })).toBeGreaterThan(0);
    expect(value(after, 'berth_proxy_bytes_total', { group: groupId, direction: 'out' })).toBeGreaterThan(0);
    expect(value(after, 'berth_containers_running')).toBe(0);
    expect(value(after, 'berth_sessions', { status: 'running' })).toBe(0);
    expect(value(after, 'berth_sessions', { status: 'idle' })).toBeGreaterThanOrEqual(1);
    expect(value(after, 'berth_runtime_errors_total')).toBe(0);

    // A deleted group's series go with it.
    expect((await server.api(`/v1/groups/${groupId}`, { method: 'DELETE' })).status).toBe(204);
    const gone = await scrape();
    expect(gone).not.toContain(`group="${groupId}"`);
  }, 120_000);
});

describe('BERTH_METRICS_ADDR', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: 'container',
      BERTH_METRICS_ADDR: '127.0.0.1:0',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('serves GET /metrics without a key on its own loopback address, and nothing else there', async () => {
    const address = server.parts.metricsAddress!;
    expect(address.address).toBe('127.0.0.1');
    const base = `http://127.0.0.1:${address.port}`;
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(samples(await res.text()).some((s) => s.name === 'berth_sessions')).toBe(true);
    for (const path of ['/v1/groups', '/healthz', '/docs'])
      expect((await fetch(`${base}${path}`)).status, path).toBe(404);
    // On the API itself it still needs an admin key.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  });

  it('refuses a Host that is not a loopback name, so a rebound web page cannot read it', async () => {
    const { port } = server.parts.metricsAddress!;
    const scrape = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/metrics', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    for (const host of [`attacker.example:${port}`, 'attacker.example', `10.0.0.1:${port}`, `[::]:${port}`])
      expect(await scrape(host), host).toBe(403);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, '127.0.0.1'])
      expect(await scrape(host), host).toBe(200);
  });

  it('refuses an address other machines could reach, or a malformed one', () => {
    for (const bad of [
      '0.0.0.0:9464',
      '[::]:9464',
      '10.1.2.3:9464',
      'example.com:9464',
      '127.0.0.1',
      ':9464',
    ]) {
      expect(() => loadConfig({ BERTH_METRICS_ADDR: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ BERTH_METRICS_ADDR: bad }), bad).toThrow(/BERTH_METRICS_ADDR/);
    }
    expect(loadConfig({ BERTH_METRICS_ADDR: '[::1]:9464' }).metricsAddress).toEqual({
      host: '::1',
      port: 9464,
    });
    // Bound as the literal address: the resolver does not decide where a keyless page listens.
    expect(loadConfig({ BERTH_METRICS_ADDR: 'localhost:9464' }).metricsAddress).toEqual({
      host: '127.0.0.1',
      port: 9464,
    });
  });
});

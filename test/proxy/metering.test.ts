import { randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/events/event-log.ts';
import { type CredentialProxy, createCredentialProxy } from '../../src/proxy/credential-proxy.ts';
import { createCredentialSource } from '../../src/proxy/credentials.ts';
import { DEFAULT_PRICES } from '../../src/proxy/pricing.ts';
import { ModelMeter } from '../../src/sessions/metering.ts';
import type { Store } from '../../src/store/db.ts';
import { listEvents } from '../../src/store/events.ts';
import { createGroup, getGroup, updateGroup } from '../../src/store/groups.ts';
import type { ContainerConfig } from '../../src/store/schema.ts';
import { createSession, getSession } from '../../src/store/sessions.ts';
import { dbKinds, freshStore } from '../support/db.ts';
import { type FakeModel, startFakeModel } from '../support/fake-model.ts';

const REAL_KEY = `sk-ant-api03-real-${randomBytes(8).toString('hex')}`;
const USAGE = {
  input_tokens: 1200,
  output_tokens: 345,
  cache_creation_input_tokens: 100,
  cache_read_input_tokens: 5000,
};
// claude-sonnet-4-5 at 3 / 15 / 3.75 / 0.30 USD per million tokens, in micro-USD.
const COST = 3 * 1200 + 15 * 345 + 3.75 * 100 + 0.3 * 5000;
const TOKENS = 1200 + 345 + 100 + 5000;
const warnings: unknown[] = [];
const log = {
  debug: () => {},
  info: () => {},
  warn: (obj: object, msg: string) => warnings.push([msg, obj]),
  error: (obj: object, msg: string) => warnings.push([msg, obj]),
};

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

function send(
  base: string,
  opts: { path?: string; headers: OutgoingHttpHeaders; body: string; onData?: (text: string) => void },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${opts.path ?? '/v1/messages'}`,
      { method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          opts.onData?.(text);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const body = (model: string, stream: boolean) =>
  JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] });

let store: Store;
let events: EventLog;
let fake: FakeModel;
let proxy: CredentialProxy;
let base: string;
let folders = 0;

/** A group with these model rules, one session in it, and that session's placeholder header. */
async function session(models?: ContainerConfig['models']) {
  const group = await createGroup(store.db, {
    name: 'g',
    folder: `metered-${++folders}`,
    trust: 'member',
    containerConfig: models ? { models } : {},
  });
  const s = await createSession(store.db, { groupId: group.id });
  const grant = proxy.issue(s.id, 1);
  return { groupId: group.id, sessionId: s.id, headers: { 'x-api-key': grant.token } };
}

async function usageEvents(sessionId: string) {
  const rows = await listEvents(store.db, { sessionId, after: 0, limit: 100 });
  return rows.filter((e) => e.data.type === 'usage').map((e) => e.data);
}

describe.each(dbKinds())('metered model access on %s', (kind) => {
  beforeAll(async () => {
    store = await freshStore(kind);
    events = new EventLog(store, { instanceId: 'metering-test', log });
    await events.start();
    fake = await startFakeModel({ expectedKey: REAL_KEY, usage: USAGE, chunkDelayMs: 1 });
    const credentials = createCredentialSource({ apiKey: REAL_KEY });
    proxy = await createCredentialProxy({
      host: '127.0.0.1',
      port: 0,
      upstream: fake.url,
      maxBodyBytes: 1024 * 1024,
      credentials,
      gate: new ModelMeter({ store, events, prices: DEFAULT_PRICES, log }),
      log,
    });
    base = `http://127.0.0.1:${proxy.address.port}`;
  });

  afterAll(async () => {
    await proxy?.close();
    await fake?.close();
    await events?.close();
    await store?.close();
  });

  it('adds a streamed response’s tokens and cost to the session and group, with a usage event', async () => {
    const s = await session();
    const res = await send(base, { headers: s.headers, body: body('claude-sonnet-4-5-20250929', true) });
    expect(res.status).toBe(200);
    expect(res.text).toContain('event: message_stop');
    // The response is fully forwarded before its usage is saved: wait for the event, not for time.
    await expect.poll(() => usageEvents(s.sessionId)).toHaveLength(1);
    const [event] = await usageEvents(s.sessionId);
    expect(event).toEqual({
      type: 'usage',
      model: 'claude-sonnet-4-5-20250929',
      status: 200,
      inputTokens: 1200,
      outputTokens: 345,
      cacheCreationInputTokens: 100,
      cacheReadInputTokens: 5000,
      costUsd: COST / 1e6,
    });
    const row = await getSession(store.db, s.sessionId);
    expect(row).toMatchObject({
      modelRequests: 1,
      inputTokens: 1200,
      outputTokens: 345,
      cacheCreationTokens: 100,
      cacheReadTokens: 5000,
      costMicroUsd: COST,
    });
    expect(await getGroup(store.db, s.groupId)).toMatchObject({ modelRequests: 1, costMicroUsd: COST });
    // The upstream was asked for an uncompressed body, so usage can be read as it passes.
    expect(fake.requests.at(-1)!.headers['accept-encoding']).toBe('identity');
  });

  it('meters a non-streamed response the same way and sums per group across sessions', async () => {
    const a = await session();
    const group = a.groupId;
    const b = await createSession(store.db, { groupId: group });
    const bHeaders = { 'x-api-key': proxy.issue(b.id, 1).token };
    expect((await send(base, { headers: a.headers, body: body('claude-sonnet-4-5', false) })).status).toBe(
      200,
    );
    expect((await send(base, { headers: bHeaders, body: body('claude-sonnet-4-5', true) })).status).toBe(200);
    await expect.poll(async () => (await getGroup(store.db, group)).modelRequests).toBe(2);
    expect(await getGroup(store.db, group)).toMatchObject({
      inputTokens: 2400,
      outputTokens: 690,
      cacheCreationTokens: 200,
      cacheReadTokens: 10_000,
      costMicroUsd: 2 * COST,
    });
    expect(await getSession(store.db, a.sessionId)).toMatchObject({ modelRequests: 1, outputTokens: 345 });
  });

  it('forwards each streamed event as it arrives instead of waiting for the usage at the end', async () => {
    const s = await session();
    fake.hold(true);
    let sawDelta!: () => void;
    const delta = new Promise<void>((resolve) => {
      sawDelta = resolve;
    });
    const answer = send(base, {
      headers: s.headers,
      body: body('claude-haiku-4-5', true),
      onData: (text) => {
        if (text.includes('content_block_delta')) sawDelta();
      },
    });
    // The upstream holds message_delta (the output tokens) until released: the text got through first.
    await delta;
    expect(await usageEvents(s.sessionId)).toEqual([]);
    fake.hold(false);
    expect((await answer).text).toContain('message_stop');
    await expect.poll(() => usageEvents(s.sessionId)).toHaveLength(1);
  });

  it('still counts the input side of a stream the client cut off before its end', async () => {
    const s = await session();
    fake.hold(true);
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        `${base}/v1/messages`,
        { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString('utf8');
            if (text.includes('content_block_stop')) req.destroy();
          });
          res.on('close', resolve);
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
      req.end(body('claude-sonnet-4-5', true));
    });
    await expect.poll(() => usageEvents(s.sessionId)).toHaveLength(1);
    fake.hold(false);
    // message_start's provisional output count is all that arrived.
    expect((await usageEvents(s.sessionId))[0]).toMatchObject({ inputTokens: 1200, outputTokens: 1 });
  });

  it('answers 429 MODEL_CAP_EXCEEDED once the group reached tokensPerDay, without calling the model', async () => {
    const s = await session({ tokensPerDay: TOKENS + 1 });
    expect((await send(base, { headers: s.headers, body: body('claude-sonnet-4-5', true) })).status).toBe(
      200,
    );
    // Still under the cap: this one goes through and takes the group over it.
    expect((await send(base, { headers: s.headers, body: body('claude-sonnet-4-5', true) })).status).toBe(
      200,
    );
    const calls = fake.requests.length;
    const res = await send(base, { headers: s.headers, body: body('claude-sonnet-4-5', true) });
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    const problem = JSON.parse(res.text);
    expect(problem).toMatchObject({
      status: 429,
      code: 'MODEL_CAP_EXCEEDED',
      cap: { name: 'tokensPerDay', limit: TOKENS + 1, used: 2 * TOKENS },
      error: { type: 'rate_limit_error' },
    });
    expect(problem.detail).toContain('tokensPerDay');
    expect(problem.error.message).toMatch(/^MODEL_CAP_EXCEEDED: /);
    expect(fake.requests.length).toBe(calls);
    // Raising the cap applies to the next call, with no new run.
    await updateGroup(store.db, s.groupId, { containerConfig: { models: { tokensPerDay: 10 * TOKENS } } });
    expect((await send(base, { headers: s.headers, body: body('claude-sonnet-4-5', true) })).status).toBe(
      200,
    );
  });

  it('answers 429 once the group made requestsPerMinute calls in the last minute', async () => {
    const s = await session({ requestsPerMinute: 2 });
    for (let i = 0; i < 2; i++)
      expect((await send(base, { headers: s.headers, body: body('claude-haiku-4-5', false) })).status).toBe(
        200,
      );
    const res = await send(base, { headers: s.headers, body: body('claude-haiku-4-5', false) });
    expect(res.status).toBe(429);
    expect(JSON.parse(res.text)).toMatchObject({
      code: 'MODEL_CAP_EXCEEDED',
      cap: { name: 'requestsPerMinute', limit: 2, used: 2 },
    });
    // count_tokens is not a model call: it does not count and is not capped.
    const count = await send(base, {
      path: '/v1/messages/count_tokens',
      headers: s.headers,
      body: body('claude-haiku-4-5', false),
    });
    expect(count.status).toBe(200);
    // A cap of 0 closes the group's model access outright.
    await updateGroup(store.db, s.groupId, { containerConfig: { models: { requestsPerMinute: 0 } } });
    const closed = await send(base, { headers: s.headers, body: body('claude-haiku-4-5', false) });
    expect(closed.status).toBe(429);
    expect(Number(closed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(closed.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('refuses a model not on the allowlist with 403 MODEL_NOT_ALLOWED before it reaches the model', async () => {
    const s = await session({ allow: ['claude-haiku-4-5*', 'claude-sonnet-4-5'] });
    const calls = fake.requests.length;
    for (const [model, path] of [
      ['claude-opus-4-1', '/v1/messages'],
      ['claude-sonnet-4-5-20250929', '/v1/messages'],
      ['claude-opus-4-1', '/v1/messages/count_tokens'],
      ['claude-haiku-4-5', '/v1/messages/batches'],
    ] as const) {
      const res = await send(base, { path, headers: s.headers, body: body(model, false) });
      expect(res.status, `${model} ${path}`).toBe(403);
      expect(JSON.parse(res.text)).toMatchObject({ code: 'MODEL_NOT_ALLOWED', status: 403 });
    }
    const missing = await send(base, { headers: s.headers, body: '{"max_tokens":1}' });
    expect(JSON.parse(missing.text).detail).toContain('(none)');
    expect(fake.requests.length).toBe(calls);
    // Allowed models go through with the body unchanged, chunked or not.
    const exact = body('claude-haiku-4-5-20251001', true);
    const ok = await send(base, { headers: { ...s.headers, 'transfer-encoding': 'chunked' }, body: exact });
    expect(ok.status).toBe(200);
    expect(fake.requests.at(-1)!.body).toBe(exact);
    expect(fake.requests.at(-1)!.headers['content-length']).toBe(String(Buffer.byteLength(exact)));
    expect((await send(base, { headers: s.headers, body: body('claude-sonnet-4-5', false) })).status).toBe(
      200,
    );
  });
});

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/logger.ts';
import {
  type CredentialProxy,
  type CredentialProxyOptions,
  createCredentialProxy,
} from '../../src/proxy/credential-proxy.ts';
import { type CredentialSourceOptions, createCredentialSource } from '../../src/proxy/credentials.ts';
import { type FakeModel, startFakeModel } from '../support/fake-model.ts';

const REAL_KEY = `sk-ant-api03-real-${randomBytes(8).toString('hex')}`;
const REAL_OAUTH = `sk-ant-oat01-real-${randomBytes(8).toString('hex')}`;
const logs: unknown[] = [];
const record = (obj: object, msg: string) => logs.push([obj, msg]);
const log: Logger = { debug: record, info: record, warn: record, error: record };

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

function send(
  base: string,
  opts: { method?: string; path: string; headers?: OutgoingHttpHeaders; body?: string | Buffer },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${opts.path}`,
      { method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const messageBody = (extra: object = {}) =>
  JSON.stringify({
    model: 'claude-test',
    max_tokens: 64,
    messages: [{ role: 'user', content: 'hi' }],
    ...extra,
  });

const trackers: { close(): unknown }[] = [];

async function proxyFor(
  upstream: string,
  creds: CredentialSourceOptions,
  extra: Partial<CredentialProxyOptions> = {},
): Promise<{ proxy: CredentialProxy; base: string }> {
  const credentials = createCredentialSource(creds);
  const proxy = await createCredentialProxy({
    host: '127.0.0.1',
    port: 0,
    upstream,
    maxBodyBytes: 32 * 1024 * 1024,
    credentials,
    log,
    ...extra,
  });
  trackers.push(proxy, credentials);
  return { proxy, base: `http://127.0.0.1:${proxy.address.port}` };
}

let fake: FakeModel;

beforeAll(async () => {
  fake = await startFakeModel();
});

afterAll(async () => {
  for (const t of trackers) await t.close();
  await fake.close();
});

describe('credential proxy', () => {
  it('swaps the placeholder for the real API key and forwards to the upstream', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-api');
    expect(grant.envName).toBe('ANTHROPIC_API_KEY');
    expect(grant.token).toMatch(/^berth-ph-[A-Za-z0-9_-]{43}$/);
    const before = fake.requests.length;
    const body = messageBody();
    const res = await send(base, {
      method: 'POST',
      path: '/v1/messages?beta=true',
      headers: {
        'x-api-key': grant.token,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).content[0].text).toBe('Hello from the fake model.');
    const seen = fake.requests[before]!;
    expect(seen.path).toBe('/v1/messages?beta=true');
    expect(seen.headers['x-api-key']).toBe(REAL_KEY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers.host).toBe(new URL(fake.url).host);
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen.body).toBe(body);
    expect(proxy.stats('s-api')).toEqual({ requests: 1, bytesIn: body.length, bytesOut: res.text.length });
  });

  it('uses Authorization: Bearer in OAuth mode and drops any x-api-key', async () => {
    const { proxy, base } = await proxyFor(fake.url, { oauthToken: REAL_OAUTH });
    const grant = proxy.issue('s-oauth');
    expect(grant.envName).toBe('CLAUDE_CODE_OAUTH_TOKEN');
    const before = fake.requests.length;
    const viaBearer = await send(base, {
      method: 'POST',
      path: '/v1/messages',
      headers: { authorization: `Bearer ${grant.token}`, 'content-type': 'application/json' },
      body: messageBody(),
    });
    const viaKey = await send(base, {
      method: 'POST',
      path: '/v1/messages',
      headers: { 'x-api-key': grant.token, 'content-type': 'application/json' },
      body: messageBody(),
    });
    expect([viaBearer.status, viaKey.status]).toEqual([200, 200]);
    for (const seen of fake.requests.slice(before)) {
      expect(seen.headers.authorization).toBe(`Bearer ${REAL_OAUTH}`);
      expect(seen.headers['x-api-key']).toBeUndefined();
    }
    expect(fake.requests.length - before).toBe(2);
  });

  it('answers 401 for missing, unknown and revoked placeholders without contacting the upstream', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-revoke');
    expect((await send(base, { path: '/v1/models', headers: { 'x-api-key': grant.token } })).status).toBe(
      404,
    );
    expect(proxy.revoke(grant.token)).toEqual({ requests: 1, bytesIn: 0, bytesOut: expect.any(Number) });
    expect(proxy.revoke(grant.token)).toBeUndefined();
    const before = fake.requests.length;
    const attempts: OutgoingHttpHeaders[] = [
      {},
      { 'x-api-key': grant.token },
      { authorization: `Bearer ${grant.token}` },
      { 'x-api-key': `berth-ph-${randomBytes(32).toString('base64url')}` },
      { 'x-api-key': REAL_KEY },
    ];
    for (const headers of attempts) {
      const res = await send(base, { method: 'POST', path: '/v1/messages', headers, body: messageBody() });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.text)).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: expect.any(String) },
      });
      expect(res.text).not.toContain(REAL_KEY);
    }
    expect(fake.requests.length).toBe(before);
  });

  it('passes SSE through incrementally: the first event arrives while the upstream is still holding', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-sse');
    const order: string[] = [];
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get(`${base}/hold-sse`, { headers: { 'x-api-key': grant.token } }, (res) => {
        let all = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          all += chunk;
          if (order.length === 0) {
            order.push(`client saw: ${chunk.split('\n')[0]}`);
            order.push('upstream released');
            fake.release();
          }
        });
        res.on('end', () => {
          order.push('client saw end');
          resolve(all);
        });
      });
      req.on('error', reject);
    });
    expect(order).toEqual(['client saw: event: first', 'upstream released', 'client saw end']);
    expect(text).toContain('event: last');
  });

  it('streams a Messages API SSE response event by event in order', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-sse2');
    fake.setReply('one two three four five');
    const chunks: string[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${base}/v1/messages`,
        { method: 'POST', headers: { 'x-api-key': grant.token, 'content-type': 'application/json' } },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (c: string) => chunks.push(c));
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(messageBody({ stream: true }));
    });
    fake.setReply('Hello from the fake model.');
    expect(status).toBe(200);
    const events = [...chunks.join('').matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    expect(events).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      ...Array(5).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const deltas = [...chunks.join('').matchAll(/"text":"([^"]*)"/g)].map((m) => m[1]).join('');
    expect(deltas).toBe('one two three four five');
    // The upstream pauses between deltas, so an unbuffered proxy delivers them in several reads.
    expect(chunks.length).toBeGreaterThan(1);
  });

  it('streams a 20 MB body through, with Content-Length and chunked', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-big');
    const big = randomBytes(20 * 1024 * 1024);
    const sha = createHash('sha256').update(big).digest('hex');
    const before = fake.requests.length;
    const sized = await send(base, {
      method: 'POST',
      path: '/sink',
      headers: { 'x-api-key': grant.token, 'content-length': big.length },
      body: big,
    });
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${base}/sink`,
        { method: 'POST', headers: { 'x-api-key': grant.token } },
        (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)),
      );
      req.on('error', reject);
      for (let at = 0; at < big.length; at += 1024 * 1024) req.write(big.subarray(at, at + 1024 * 1024));
      req.end();
    });
    expect([sized.status, chunked]).toEqual([200, 200]);
    const seen = fake.requests.slice(before);
    expect(seen.map((r) => [r.bodyBytes, r.bodySha256])).toEqual([
      [big.length, sha],
      [big.length, sha],
    ]);
    expect(seen[1]!.headers['transfer-encoding']).toBe('chunked');
    expect(proxy.stats('s-big').bytesIn).toBe(2 * big.length);
  }, 30_000);

  it('answers 413 past the body cap, declared or streamed, and forwards nothing complete', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY }, { maxBodyBytes: 64 * 1024 });
    const grant = proxy.issue('s-cap');
    const before = fake.requests.length;
    const declared = await new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        `${base}/sink`,
        { method: 'POST', headers: { 'x-api-key': grant.token, 'content-length': 10 * 1024 * 1024 } },
        (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        },
      );
      req.on('error', () => {});
      req.on('close', () => reject(new Error('closed without a response')));
      req.write(Buffer.alloc(1024));
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text).error.type).toBe('request_too_large');
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${base}/sink`,
        { method: 'POST', headers: { 'x-api-key': grant.token } },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on('error', () => {});
      req.on('close', () => reject(new Error('closed without a response')));
      req.write(Buffer.alloc(40 * 1024));
      setImmediate(() => req.write(Buffer.alloc(40 * 1024)));
    });
    expect(streamed).toBe(413);
    const fine = await send(base, {
      method: 'POST',
      path: '/sink',
      headers: { 'x-api-key': grant.token },
      body: 'ok',
    });
    expect(fine.status).toBe(200);
    expect(fake.requests.slice(before).map((r) => r.bodyBytes)).toEqual([2]);
  });

  it('sends 100 Continue only to accepted requests', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-continue');
    const before = fake.requests.length;
    const attempt = (key: string) =>
      new Promise<{ continued: boolean; status: number }>((resolve, reject) => {
        let continued = false;
        const req = http.request(`${base}/sink`, {
          method: 'POST',
          headers: { 'x-api-key': key, expect: '100-continue', 'content-length': 5 },
        });
        req.on('continue', () => {
          continued = true;
          req.end('hello');
        });
        req.on('response', (res) =>
          res.resume().on('end', () => resolve({ continued, status: res.statusCode ?? 0 })),
        );
        req.on('error', reject);
        req.flushHeaders();
      });
    expect(await attempt('berth-ph-unknown')).toEqual({ continued: false, status: 401 });
    expect(await attempt(grant.token)).toEqual({ continued: true, status: 200 });
    const seen = fake.requests.slice(before);
    expect(seen.map((r) => [r.body, r.headers.expect])).toEqual([['hello', undefined]]);
  });

  it('strips hop-by-hop headers both ways, including those named in Connection', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-hop');
    const before = fake.requests.length;
    const res = await send(base, {
      path: '/hop-headers',
      headers: {
        'x-api-key': grant.token,
        connection: 'keep-alive, x-hop-req',
        'x-hop-req': 'drop',
        'keep-alive': 'timeout=99',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
        upgrade: 'h2c',
        'x-keep': 'yes',
      },
    });
    expect(res.status).toBe(200);
    const seen = fake.requests[before]!.headers;
    for (const name of ['x-hop-req', 'proxy-authorization', 'te', 'upgrade'])
      expect(seen[name]).toBeUndefined();
    expect(seen['keep-alive']).not.toBe('timeout=99');
    expect(seen['x-keep']).toBe('yes');
    for (const name of ['x-hop-named', 'proxy-authenticate', 'trailer'])
      expect(res.headers[name]).toBeUndefined();
    expect(res.headers['keep-alive']).not.toBe('timeout=99');
    expect(res.headers['x-end-to-end']).toBe('keep me');
  });

  it('keeps the configured origin: absolute targets are refused, odd paths stay on the upstream', async () => {
    const { proxy, base } = await proxyFor(`${fake.url}/base/`, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-origin');
    const before = fake.requests.length;
    const viaAbsolute = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: proxy.address.port,
          path: 'http://127.0.0.2:9/x',
          headers: { 'x-api-key': grant.token },
        },
        (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)),
      );
      req.on('error', reject);
      req.end();
    });
    expect(viaAbsolute).toBe(400);
    const slashes = await send(base, { path: '//127.0.0.2/v1/x', headers: { 'x-api-key': grant.token } });
    expect(slashes.status).toBe(404);
    expect(fake.requests.slice(before).map((r) => r.path)).toContain('/base//127.0.0.2/v1/x');
  });

  it('answers 502 with a clear body when the upstream is down', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { proxy, base } = await proxyFor(`http://127.0.0.1:${port}`, { apiKey: REAL_KEY });
    const grant = proxy.issue('s-down');
    const res = await send(base, {
      method: 'POST',
      path: '/v1/messages',
      headers: { 'x-api-key': grant.token },
      body: messageBody(),
    });
    expect(res.status).toBe(502);
    const body = JSON.parse(res.text);
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('api_error');
    expect(body.error.message).toContain(`127.0.0.1:${port}`);
    expect(body.error.message).toContain('ECONNREFUSED');
    expect(res.text).not.toContain(REAL_KEY);
  });

  it('forwards to an https upstream, checking its certificate', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-proxy-tls-'));
    const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    const seen: IncomingHttpHeaders[] = [];
    const tls = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    const upstream = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
    try {
      const trusted = await proxyFor(upstream, { apiKey: REAL_KEY }, { upstreamCa: readFileSync(cert) });
      const grant = trusted.proxy.issue('s-tls');
      const ok = await send(trusted.base, { path: '/v1/messages', headers: { 'x-api-key': grant.token } });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('message_stop');
      expect(seen.map((h) => [h['x-api-key'], h.host])).toEqual([[REAL_KEY, new URL(upstream).host]]);

      const untrusted = await proxyFor(upstream, { apiKey: REAL_KEY });
      const other = untrusted.proxy.issue('s-tls2');
      const refused = await send(untrusted.base, {
        path: '/v1/messages',
        headers: { 'x-api-key': other.token },
      });
      expect(refused.status).toBe(502);
      expect(seen).toHaveLength(1);
    } finally {
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 503 when no credential is configured', async () => {
    const { proxy, base } = await proxyFor(fake.url, {});
    const grant = proxy.issue('s-none');
    expect(grant.envName).toBe('ANTHROPIC_API_KEY');
    const before = fake.requests.length;
    const res = await send(base, {
      method: 'POST',
      path: '/v1/messages',
      headers: { 'x-api-key': grant.token },
    });
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text).error.type).toBe('api_error');
    expect(fake.requests.length).toBe(before);
  });

  it('picks up a rotated credentials file without a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-proxy-creds-'));
    const file = path.join(dir, 'credentials.json');
    try {
      writeFileSync(file, JSON.stringify({ apiKey: 'sk-first' }), { mode: 0o600 });
      const { proxy, base } = await proxyFor(fake.url, { file });
      const call = async (headers: OutgoingHttpHeaders) => {
        const before = fake.requests.length;
        const res = await send(base, { method: 'POST', path: '/v1/messages', headers, body: messageBody() });
        expect(res.status).toBe(200);
        return fake.requests[before]!.headers;
      };
      const first = proxy.issue('s-rotate');
      expect((await call({ 'x-api-key': first.token }))['x-api-key']).toBe('sk-first');

      writeFileSync(`${file}.new`, JSON.stringify({ apiKey: 'sk-second-key' }));
      renameSync(`${file}.new`, file);
      expect((await call({ 'x-api-key': first.token }))['x-api-key']).toBe('sk-second-key');

      writeFileSync(
        file,
        JSON.stringify({ claudeAiOauth: { accessToken: 'sk-ant-oat01-refreshed', expiresAt: 1 } }),
      );
      const second = proxy.issue('s-rotate');
      expect(second.envName).toBe('CLAUDE_CODE_OAUTH_TOKEN');
      const seen = await call({ authorization: `Bearer ${second.token}` });
      expect(seen.authorization).toBe('Bearer sk-ant-oat01-refreshed');
      expect(seen['x-api-key']).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to bind every interface', async () => {
    for (const host of ['0.0.0.0', '::', '', '[::]', 'example.invalid']) {
      await expect(proxyFor(fake.url, { apiKey: REAL_KEY }, { host })).rejects.toMatchObject({
        code: 'PROXY_BIND_UNSAFE',
      });
    }
  });

  it('reports a listen failure with a stable code', async () => {
    const { proxy } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    await expect(
      proxyFor(fake.url, { apiKey: REAL_KEY }, { port: proxy.address.port }),
    ).rejects.toMatchObject({
      code: 'PROXY_LISTEN_FAILED',
      message: expect.stringContaining('EADDRINUSE'),
    });
  });

  it('counts per session across runs and per run on revoke', async () => {
    const { proxy, base } = await proxyFor(fake.url, { apiKey: REAL_KEY });
    const runs = [proxy.issue('s-count'), proxy.issue('s-count')];
    const other = proxy.issue('s-other');
    for (const grant of [...runs, runs[1]!]) {
      await send(base, {
        method: 'POST',
        path: '/sink',
        headers: { 'x-api-key': grant.token },
        body: 'abcd',
      });
    }
    expect(proxy.revoke(runs[1]!.token)).toMatchObject({ requests: 2, bytesIn: 8 });
    expect(proxy.stats('s-count')).toMatchObject({ requests: 3, bytesIn: 12 });
    expect(proxy.stats('s-other')).toEqual({ requests: 0, bytesIn: 0, bytesOut: 0 });
    expect(proxy.stats('never-issued')).toEqual({ requests: 0, bytesIn: 0, bytesOut: 0 });
    expect(other.token).not.toBe(runs[0]!.token);
  });

  it('runs under Deno 2 node compatibility', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-proxy-deno-'));
    const script = path.join(dir, 'check.ts');
    const src = (p: string) => pathToFileURL(path.resolve(p)).href;
    writeFileSync(
      script,
      `import { createCredentialProxy } from '${src('src/proxy/credential-proxy.ts')}';
import { createCredentialSource } from '${src('src/proxy/credentials.ts')}';
import { startFakeModel } from '${src('test/support/fake-model.ts')}';
const fake = await startFakeModel({ expectedKey: 'sk-deno', chunkDelayMs: 1 });
const proxy = await createCredentialProxy({ host: '127.0.0.1', port: 0, upstream: fake.url, maxBodyBytes: 1024,
  credentials: createCredentialSource({ apiKey: 'sk-deno' }) });
const { token } = proxy.issue('deno');
const res = await fetch('http://127.0.0.1:' + proxy.address.port + '/v1/messages', { method: 'POST',
  headers: { 'x-api-key': token, 'content-type': 'application/json' }, body: JSON.stringify({ stream: true }) });
const text = await res.text();
const bad = await fetch('http://127.0.0.1:' + proxy.address.port + '/v1/messages', { method: 'POST' });
await bad.text();
console.log(JSON.stringify({ status: res.status, stop: text.includes('message_stop'), bad: bad.status,
  stats: proxy.stats('deno') }));
await proxy.close();
await fake.close();
`,
    );
    try {
      const { stdout } = await promisify(execFile)(
        path.resolve('node_modules/.bin/deno'),
        [
          'run',
          '--node-modules-dir=manual',
          '--allow-net=127.0.0.1',
          '--allow-read',
          '--allow-sys',
          '--allow-env',
          script,
        ],
        { cwd: dir, timeout: 60_000 },
      );
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({
        status: 200,
        stop: true,
        bad: 401,
        stats: { requests: 1 },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('never logs a real credential or placeholder', () => {
    expect(logs.length).toBeGreaterThan(0);
    const text = JSON.stringify(logs);
    for (const secret of [
      REAL_KEY,
      REAL_OAUTH,
      'sk-first',
      'sk-second-key',
      'sk-ant-oat01-refreshed',
      'berth-ph-',
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

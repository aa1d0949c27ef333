import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A real local HTTP server that imitates the Anthropic Messages API. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as text, cut at 1 MiB; bodyBytes and bodySha256 describe the whole. */
  body: string;
  bodyBytes: number;
  bodySha256: string;
}

/** One model answer: text, a tool_use turn, an HTTP error, or a stream cut off after some text. */
export type Step =
  | string
  | { text?: string; tools: { name: string; input: unknown }[] }
  | { error: { status: number; type: string; message: string }; headers?: Record<string, string> }
  | { cutAfter: string };

export type Reply = Step | ((request: { body: unknown }) => Step);

/** Token counts to report, as the Messages API names them. */
export interface FakeUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export interface FakeModelOptions {
  /** When set, requests must carry it as `x-api-key` or `Authorization: Bearer`; others get 401. */
  expectedKey?: string;
  /** Default 127.0.0.1; a container bridge gateway makes it reachable from containers directly. */
  host?: string;
  port?: number;
  /** Pause between SSE deltas so streaming is observable (default 15 ms). */
  chunkDelayMs?: number;
  reply?: Reply;
  /** Usage to report; unset: 10 input tokens and one output token per word. */
  usage?: FakeUsage;
}

export interface FakeModel {
  url: string;
  /** Every completed request, in arrival order (including rejected ones). */
  requests: RecordedRequest[];
  setReply(reply: Reply): void;
  setUsage(usage: FakeUsage | undefined): void;
  /** While on, streamed messages stop before message_delta (which carries the output tokens). */
  hold(on: boolean): void;
  /** Lets every `GET /hold-sse` stream that is waiting send its last event and end. */
  release(): void;
  close(): Promise<void>;
}

const RECORD_LIMIT = 1024 * 1024;
// Bodies up to this size are parsed as JSON; larger ones are only counted and hashed.
const KEEP_LIMIT = 8 * 1024 * 1024;

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const apiError = (res: ServerResponse, status: number, type: string, message: string) =>
  sendJson(res, status, { type: 'error', error: { type, message } });

function sse(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

function startSse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
}

/** Splits a reply into several small deltas. */
function pieces(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g) ?? [''];
  return parts.length > 1
    ? parts
    : [text.slice(0, Math.ceil(text.length / 2)), text.slice(Math.ceil(text.length / 2))];
}

async function readBody(req: IncomingMessage): Promise<{ buffer: Buffer; bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  const kept: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    hash.update(chunk);
    if (bytes < KEEP_LIMIT) kept.push(chunk.subarray(0, KEEP_LIMIT - bytes));
    bytes += chunk.length;
  }
  return { buffer: Buffer.concat(kept), bytes, sha256: hash.digest('hex') };
}

function authorized(headers: IncomingHttpHeaders, expected: string | undefined): boolean {
  if (expected === undefined) return true;
  return headers['x-api-key'] === expected || headers.authorization === `Bearer ${expected}`;
}

export async function startFakeModel(options: FakeModelOptions = {}): Promise<FakeModel> {
  const requests: RecordedRequest[] = [];
  const delay = options.chunkDelayMs ?? 15;
  let reply: Reply = options.reply ?? 'Hello from the fake model.';
  let fixedUsage = options.usage;
  let held: { promise: Promise<void>; release(): void } | undefined;
  let waiting: (() => void)[] = [];

  const replyStep = (body: unknown): Step => (typeof reply === 'function' ? reply({ body }) : reply);

  async function messages(res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    const step = replyStep(body);
    if (typeof step === 'object' && 'error' in step) {
      const payload = JSON.stringify({ type: 'error', error: step.error });
      res.writeHead(step.error.status, { 'content-type': 'application/json', ...step.headers });
      res.end(payload);
      return;
    }
    if (typeof step === 'object') return scripted(res, body, step);
    const text = step;
    const model = typeof body.model === 'string' ? body.model : 'claude-fake';
    const id = `msg_fake_${randomBytes(6).toString('hex')}`;
    const usage = fixedUsage ?? { input_tokens: 10, output_tokens: Math.max(1, text.split(/\s+/).length) };
    if (body.stream !== true) {
      sendJson(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage,
      });
      return;
    }
    startSse(res);
    const message = { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null };
    // Like the real API: message_start has the input side and a provisional output count, message_delta the final one.
    const startUsage = { ...usage, output_tokens: Math.min(1, usage.output_tokens) };
    sse(res, 'message_start', {
      type: 'message_start',
      message: { ...message, stop_sequence: null, usage: startUsage },
    });
    sse(res, 'content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    });
    sse(res, 'ping', { type: 'ping' });
    for (const piece of pieces(text)) {
      await sleep(delay);
      if (res.destroyed) return;
      sse(res, 'content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: piece },
      });
    }
    sse(res, 'content_block_stop', { type: 'content_block_stop', index: 0 });
    if (held) await held.promise;
    sse(res, 'message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    sse(res, 'message_stop', { type: 'message_stop' });
    res.end();
  }

  /** A streamed answer with tool_use blocks (stop_reason tool_use), or text cut off mid-stream. */
  async function scripted(
    res: ServerResponse,
    body: Record<string, unknown>,
    step: Exclude<Step, string | { error: unknown }>,
  ): Promise<void> {
    const model = typeof body.model === 'string' ? body.model : 'claude-fake';
    const usage = {
      input_tokens: 10,
      output_tokens: 5,
      cache_read_input_tokens: 3,
      cache_creation_input_tokens: 2,
    };
    startSse(res);
    sse(res, 'message_start', {
      type: 'message_start',
      message: {
        id: `msg_fake_${randomBytes(6).toString('hex')}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage,
      },
    });
    const text = 'cutAfter' in step ? step.cutAfter : step.text;
    let index = 0;
    if (text) {
      sse(res, 'content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'text', text: '' },
      });
      sse(res, 'content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'text_delta', text },
      });
      if ('cutAfter' in step) {
        await sleep(delay);
        res.destroy();
        return;
      }
      sse(res, 'content_block_stop', { type: 'content_block_stop', index });
      index++;
    }
    const tools = 'tools' in step ? step.tools : [];
    for (const tool of tools) {
      const block = {
        type: 'tool_use',
        id: `toolu_${randomBytes(8).toString('hex')}`,
        name: tool.name,
        input: {},
      };
      sse(res, 'content_block_start', { type: 'content_block_start', index, content_block: block });
      sse(res, 'content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: JSON.stringify(tool.input) },
      });
      sse(res, 'content_block_stop', { type: 'content_block_stop', index });
      index++;
    }
    sse(res, 'message_delta', {
      type: 'message_delta',
      delta: { stop_reason: tools.length > 0 ? 'tool_use' : 'end_turn', stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    sse(res, 'message_stop', { type: 'message_stop' });
    res.end();
  }

  async function bytes(res: ServerResponse, total: number): Promise<void> {
    startSse(res);
    const chunk = Buffer.from(`data: ${'x'.repeat(64 * 1024 - 8)}\n\n`);
    for (let sent = 0; sent < total && !res.destroyed; sent += chunk.length) {
      const part = total - sent < chunk.length ? chunk.subarray(0, total - sent) : chunk;
      if (!res.write(part)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL, raw: Buffer): Promise<void> {
    const key = `${req.method} ${url.pathname}`;
    if (key === 'POST /v1/messages' || key === 'POST /v1/messages/count_tokens') {
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return apiError(res, 400, 'invalid_request_error', 'body is not valid JSON');
      }
      if (typeof body !== 'object' || body === null)
        return apiError(res, 400, 'invalid_request_error', 'bad body');
      if (key.endsWith('count_tokens'))
        return sendJson(res, 200, { input_tokens: Math.ceil(raw.length / 4) });
      return messages(res, body as Record<string, unknown>);
    }
    if (key === 'GET /hold-sse') {
      // Sends one event, then waits for release(): proves a client sees data before the stream ends.
      startSse(res);
      sse(res, 'first', { n: 1 });
      await new Promise<void>((resolve) => waiting.push(resolve));
      sse(res, 'last', { n: 2 });
      res.end();
      return;
    }
    if (key === 'GET /bytes') return bytes(res, Number(url.searchParams.get('n') ?? 1024 * 1024));
    if (key === 'POST /sink') return sendJson(res, 200, { ok: true });
    if (key === 'GET /hop-headers') {
      res.writeHead(200, {
        'content-type': 'text/plain',
        connection: 'x-hop-named',
        'x-hop-named': 'drop me',
        'keep-alive': 'timeout=99',
        'proxy-authenticate': 'Basic',
        trailer: 'x-trailer',
        'x-end-to-end': 'keep me',
      });
      res.end('ok');
      return;
    }
    apiError(res, 404, 'not_found_error', `no route ${key}`);
  }

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://fake.invalid');
      const body = await readBody(req);
      requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: body.buffer.subarray(0, RECORD_LIMIT).toString('utf8'),
        bodyBytes: body.bytes,
        bodySha256: body.sha256,
      });
      if (!authorized(req.headers, options.expectedKey)) {
        return apiError(res, 401, 'authentication_error', 'invalid x-api-key');
      }
      await route(req, res, url, body.buffer);
    })().catch(() => res.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host ?? '127.0.0.1', port: options.port ?? 0 }, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${host}:${port}`,
    requests,
    setReply: (next) => {
      reply = next;
    },
    setUsage: (next) => {
      fixedUsage = next;
    },
    hold: (on) => {
      if (on && !held) {
        let release!: () => void;
        const promise = new Promise<void>((resolve) => {
          release = resolve;
        });
        held = { promise, release };
      } else if (!on && held) {
        held.release();
        held = undefined;
      }
    },
    release: () => {
      const done = waiting;
      waiting = [];
      for (const resolve of done) resolve();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const wake of waiting) wake();
        waiting = [];
        held?.release();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

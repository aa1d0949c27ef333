import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeClose,
  encodeMessage,
  encodeStart,
  type Frame,
  FrameParser,
  newFrameNonce,
  type StdoutItem,
} from '../../src/protocol/frames.ts';
import { LineSplitter } from '../../src/runtime/lines.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest, type TestRuntime } from '../support/runtimes.ts';

const WAIT_MS = 20_000;

interface AgentOptions {
  env?: Record<string, string>;
  /** Extra `run` flags; the default network is none. */
  flags?: string[];
  workspace?: string;
  /** false: do not send the start line that carries the nonce. */
  start?: boolean;
}

/** A real agent container driven over stdin/stdout like the host runner does. */
class AgentProcess {
  readonly items: StdoutItem[] = [];
  readonly logs: string[] = [];
  readonly exited: Promise<number | undefined>;
  readonly nonce = newFrameNonce();
  private readonly changed = new EventEmitter();
  private readonly child;

  constructor(runtime: TestRuntime, image: string, options: AgentOptions = {}) {
    const nonce = this.nonce;
    const env = {
      BERTH_AGENT: 'echo',
      BERTH_AGENT_TEST_HOOKS: '1',
      BERTH_SESSION_ID: 'sess-1',
      BERTH_GROUP_ID: 'grp-1',
      ...options.env,
    };
    const args = ['run', '-i', '--pull=never', '--rm', '--read-only', '--cap-drop=ALL'];
    args.push(
      '--security-opt=no-new-privileges',
      '--tmpfs',
      '/tmp',
      ...(options.flags ?? ['--network=none']),
    );
    if (options.workspace) args.push('-v', `${options.workspace}:/workspace`);
    for (const [key, value] of Object.entries(env)) args.push('-e', `${key}=${value}`);
    this.child = execa(runtime, [...args, image], { buffer: false, reject: false, stdin: 'pipe' });
    if (options.start !== false) this.child.stdin.write(encodeStart(nonce));
    const parser = new FrameParser(nonce);
    const splitter = new LineSplitter();
    this.child.stdout.on('data', (chunk: Buffer) => this.add(parser.push(chunk), []));
    this.child.stderr.on('data', (chunk: Buffer) => this.add([], splitter.push(chunk)));
    this.exited = this.child.then((r) => {
      this.add(parser.end(), splitter.end());
      return r.exitCode;
    });
  }

  private add(items: StdoutItem[], logs: string[]): void {
    this.items.push(...items);
    this.logs.push(...logs);
    this.changed.emit('change');
  }

  frames(): Frame[] {
    return this.items.flatMap((i) => (i.kind === 'frame' && i.frame.type !== 'heartbeat' ? [i.frame] : []));
  }

  lines(): string[] {
    return this.items.flatMap((i) => (i.kind === 'line' ? [i.line] : []));
  }

  send(text: string): void {
    this.child.stdin.write(text);
  }

  message(id: string, text: string, seq = 1): void {
    this.send(encodeMessage({ id, seq, text }));
  }

  endInput(): void {
    this.child.stdin.end();
  }

  /** Resolves once `done` holds; fails with what was seen so far. */
  until(done: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        const seen = JSON.stringify({ items: this.items.slice(-20), logs: this.logs.slice(-20) }, null, 1);
        reject(new Error(`timed out waiting for ${what}; last output: ${seen}`));
      }, WAIT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        this.changed.off('change', check);
      };
      this.changed.on('change', check);
      check();
    });
  }

  /** The reply to message `id` once it is acked (or the error frame for it). */
  async answer(id: string): Promise<Frame> {
    const settled = (f: Frame) => (f.type === 'ack' && f.id === id) || (f.type === 'error' && f.id === id);
    await this.until(() => this.frames().some(settled), `ack or error for ${id}`);
    const frames = this.frames();
    return frames.find(
      (f) => (f.type === 'reply' && f.inReplyTo === id) || (f.type === 'error' && f.id === id),
    )!;
  }

  async ask(id: string, text: string): Promise<string> {
    this.message(id, text);
    const frame = await this.answer(id);
    if (frame?.type !== 'reply') throw new Error(`expected a reply to ${id}, got ${JSON.stringify(frame)}`);
    return frame.text;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

function workspaceDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-ws-'));
  // The agent runs as uid 1000 and must write into the host folder.
  chmodSync(dir, 0o777);
  return dir;
}

const runtimes = runtimesUnderTest();
const started: AgentProcess[] = [];
const dirs: string[] = [];

function agent(runtime: TestRuntime, image: string, options?: AgentOptions): AgentProcess {
  const a = new AgentProcess(runtime, image, options);
  started.push(a);
  return a;
}

afterAll(async () => {
  for (const a of started) a.kill();
  await Promise.all(started.map((a) => a.exited));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(runtimes.length === 0).each(runtimes)('agent image on %s', (runtime) => {
  let image = '';
  beforeAll(async () => {
    image = await ensureAgentImage(runtime);
  }, 180_000);

  it('answers three messages in order, streams stderr and exits 0 on close', async () => {
    const a = agent(runtime, image);
    a.send(
      ['one', 'two', 'three'].map((text, i) => encodeMessage({ id: `m${i + 1}`, seq: i + 1, text })).join(''),
    );
    await a.until(() => a.frames().filter((f) => f.type === 'ack').length === 3, 'three acks');
    expect(a.frames()).toEqual([
      { type: 'ready' },
      { type: 'reply', inReplyTo: 'm1', text: 'echo: one' },
      { type: 'ack', id: 'm1' },
      { type: 'reply', inReplyTo: 'm2', text: 'echo: two' },
      { type: 'ack', id: 'm2' },
      { type: 'reply', inReplyTo: 'm3', text: 'echo: three' },
      { type: 'ack', id: 'm3' },
    ]);
    a.send(encodeClose());
    expect(await a.exited).toBe(0);
    expect(a.logs[0]).toMatch(/^berth-agent: started mode=echo session=sess-1 group=grp-1 node=v20\./);
    expect(a.logs.filter((l) => l.includes('berth-agent: message id='))).toHaveLength(3);
    expect(a.logs.at(-1)).toContain('close requested');
    expect(a.items.filter((i) => i.kind !== 'frame')).toEqual([]);
  });

  it('echoes hook texts as plain text unless test hooks are turned on', async () => {
    // berth always passes 0 or 1; an empty value stands for a launcher that passes nothing.
    for (const off of ['0', '']) {
      const a = agent(runtime, image, { env: { BERTH_AGENT_TEST_HOOKS: off } });
      expect(await a.ask('e', '!env')).toBe('echo: !env');
      expect(await a.ask('x', '!exit 3')).toBe('echo: !exit 3');
      a.send(encodeClose());
      expect(await a.exited).toBe(0);
    }
  });

  it('exits when stdin reaches EOF without close', async () => {
    const a = agent(runtime, image);
    expect(await a.ask('m1', 'before eof')).toBe('echo: before eof');
    a.endInput();
    expect(await a.exited).toBe(0);
    expect(a.logs.at(-1)).toContain('host gone');
  });

  it('runs as an unprivileged user on a read-only root with a writable workspace', async () => {
    const ws = workspaceDir();
    dirs.push(ws);
    const a = agent(runtime, image, { workspace: ws });
    const status = await a.ask('s', '!read /proc/self/status');
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(await a.ask('w1', '!write /opt/berth/runner/main.mjs overwritten')).toBe('EROFS');
    expect(await a.ask('w2', '!write /tmp/scratch ok')).toBe('ok');
    expect(await a.ask('w3', '!write /workspace/note.txt hello host')).toBe('ok');
    expect(readFileSync(path.join(ws, 'note.txt'), 'utf8')).toBe('hello host');
    expect(await a.ask('l', '!ls /workspace')).toBe('note.txt');
    expect(await a.ask('r', '!read /nope')).toBe('ENOENT');
    // A real Debian: the agent's tools are there, and Claude Code's binary next to the runner.
    const bin = (await a.ask('u', '!ls /usr/bin')).split('\n');
    for (const tool of ['bash', 'git', 'curl', 'rg', 'python3', 'jq', 'apt-get', 'env'])
      expect(bin).toContain(tool);
    expect((await a.ask('c', '!ls /opt/berth')).split('\n')).toEqual(['claude', 'runner']);
    const env = JSON.parse(await a.ask('e', '!env')) as Record<string, string>;
    expect(env.BERTH_FRAME_NONCE).toBeUndefined();
    expect(env).toMatchObject({ BERTH_SESSION_ID: 'sess-1', BERTH_AGENT: 'echo', HOME: '/home/agent' });
    a.send(encodeClose());
    expect(await a.exited).toBe(0);
  });

  it('keeps the frame nonce out of every environment a tool could read', async () => {
    const a = agent(runtime, image);
    const environs = [
      await a.ask('e1', '!read /proc/1/environ'),
      await a.ask('e2', '!read /proc/self/environ'),
      await a.ask('e3', '!read /proc/1/cmdline'),
      await a.ask('e4', '!env'),
    ];
    // The runner is pid 1 and a tool runs as its uid: it reads exactly what these hooks read.
    expect(environs[0]).toContain('BERTH_AGENT=echo');
    for (const text of environs) {
      expect(text).not.toContain(a.nonce);
      expect(text).not.toContain('BERTH_FRAME_NONCE');
    }
    a.send(encodeClose());
    expect(await a.exited).toBe(0);
  });

  it('refuses to start without a valid start line', async () => {
    const a = agent(runtime, image, { start: false });
    a.send(encodeMessage({ id: 'm1', seq: 1, text: 'no nonce yet' }));
    expect(await a.exited).toBe(2);
    expect(a.frames()).toEqual([]);
    expect(a.logs.at(-1)).toContain('first stdin line must be');
  });

  it('reports failures as error frames, streams stderr hooks and exits with the requested code', async () => {
    const a = agent(runtime, image, { env: { BERTH_HEARTBEAT_MS: '50' } });
    await a.until(() => a.frames().some((f) => f.type === 'ready'), 'ready');
    a.message('bad', '!no-such-hook');
    expect(await a.answer('bad')).toEqual({
      type: 'error',
      id: 'bad',
      message: 'unknown test hook !no-such-hook',
    });
    a.message('proto', '!constructor');
    expect(await a.answer('proto')).toMatchObject({
      type: 'error',
      message: 'unknown test hook !constructor',
    });
    a.send('this is not json\n');
    await a.until(() => a.frames().some((f) => f.type === 'error' && f.id === undefined), 'input error');
    expect(await a.ask('err', '!stderr 3 20')).toBe('stderr: 3 lines');
    // stderr travels on its own pipe, so it may trail the reply.
    await a.until(() => a.logs.includes('stderr line 3.......'), 'stderr lines');
    expect(a.logs.filter((l) => l.startsWith('stderr line'))).toEqual(
      ['stderr line 1', 'stderr line 2', 'stderr line 3'].map((l) => l.padEnd(20, '.')),
    );
    expect(await a.ask('busy', '!busy 300')).toBe('busy 300');
    expect(await a.ask('sleep', '!sleep 300')).toBe('slept 300');
    const beats = (id: string) => {
      const start = a.items.findIndex(
        (i) => i.kind === 'frame' && i.frame.type === 'reply' && i.frame.inReplyTo === id,
      );
      const prev = a.items.findLastIndex((i, n) => n < start && i.kind === 'frame' && i.frame.type === 'ack');
      return a.items.slice(prev + 1, start).filter((i) => i.kind === 'frame' && i.frame.type === 'heartbeat')
        .length;
    };
    expect(beats('busy')).toBeGreaterThan(0);
    expect(beats('sleep')).toBe(0);
    a.message('bye', '!exit 3');
    expect(await a.exited).toBe(3);
    expect(a.frames().some((f) => f.type === 'ack' && f.id === 'bye')).toBe(false);
  });

  it('keeps frames intact through a flood of stdout and stderr lines', async () => {
    const a = agent(runtime, image);
    expect(await a.ask('f', '!flood 3000')).toBe('flooded 3000');
    expect(a.lines()).toEqual(Array.from({ length: 3000 }, (_, i) => `flood stdout ${i + 1}`));
    await a.until(() => a.logs.includes('flood stderr 3000'), 'last stderr line');
    expect(a.logs.filter((l) => l.startsWith('flood stderr '))).toHaveLength(3000);
    a.send(encodeClose());
    expect(await a.exited).toBe(0);
  });

  it('is killed with 137 when !oom exceeds the memory limit', async () => {
    const a = agent(runtime, image, { flags: ['--network=none', '--memory=64m'] });
    a.message('oom', '!oom');
    expect(await a.exited).toBe(137);
    expect(a.frames().some((f) => f.type === 'ack')).toBe(false);
  });
});

/** A local HTTP server that answers every request with its method, path and body. */
function echoServer() {
  const requests: { headers: IncomingMessage['headers']; path: string; body: string }[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c;
    });
    req.on('end', () => {
      requests.push({ headers: req.headers, path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${req.url} ${body}`);
    });
  });
  const listening = new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
  return { requests, listening, close: () => new Promise((r) => server.close(r)) };
}

describe.skipIf(runtimes.length === 0).each(runtimes)(
  'model calls from the echo agent on %s (host network, local server)',
  (runtime) => {
    const model = echoServer();
    let image = '';
    let url = '';
    beforeAll(async () => {
      [image, url] = await Promise.all([ensureAgentImage(runtime), model.listening]);
    }, 180_000);
    afterAll(() => model.close());

    it('sends the OAuth placeholder as a bearer token from !fetch', async () => {
      const env = { ANTHROPIC_BASE_URL: url, CLAUDE_CODE_OAUTH_TOKEN: 'oauth-placeholder' };
      const a = agent(runtime, image, { env, flags: ['--network=host'] });
      expect(await a.ask('g', '!fetch /v1/models')).toBe('200\nGET /v1/models ');
      expect(await a.ask('p', '!fetch /v1/echo {"a":1}')).toBe('200\nPOST /v1/echo {"a":1}');
      expect(model.requests.at(-1)!.headers).toMatchObject({ authorization: 'Bearer oauth-placeholder' });
      expect(model.requests.at(-1)!.headers['x-api-key']).toBeUndefined();
      a.send(encodeClose());
      expect(await a.exited).toBe(0);
    });
  },
);

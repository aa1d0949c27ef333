import process from 'node:process';
import { createInterface } from 'node:readline';
import { type Frame, parseStart } from '../../src/protocol/frames.ts';
import { echoAgent } from './echo.ts';
import { startForwarders } from './forwarder.ts';
import { stdoutFrames } from './frames.ts';
import type { AgentMode, Turn } from './turn.ts';

interface Inbound {
  id: string;
  seq: number;
  text: string;
}

function log(line: string): void {
  process.stderr.write(`berth-agent: ${line}\n`);
}

function exit(code: number, why: string): never {
  log(`exit ${code}: ${why}`);
  process.exit(code);
}

function heartbeatMs(raw: string | undefined): number {
  const n = Number(raw);
  return raw && Number.isInteger(n) && n >= 10 ? n : 5000;
}

async function pickAgent(mode: string, env: NodeJS.ProcessEnv): Promise<AgentMode> {
  if (mode === 'echo') return { run: echoAgent(env) };
  // Loaded only here: the SDK is a large module the echo agent never needs.
  if (mode === 'claude') return (await import('./claude.ts')).claudeAgent(env);
  exit(2, `BERTH_AGENT must be claude or echo, got "${mode}"`);
}

function parseLine(line: string): Inbound | 'close' | 'interrupt' | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'stdin line is not JSON';
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (v.type === 'close') return 'close';
  if (v.type === 'interrupt') return 'interrupt';
  if (v.type !== 'message') return `unknown input type ${JSON.stringify(v.type)}`;
  if (typeof v.id !== 'string' || typeof v.seq !== 'number' || typeof v.text !== 'string')
    return 'message needs string id, number seq and string text';
  return { id: v.id, seq: v.seq, text: v.text };
}

/** Runs once the start line has given the nonce; nothing before it can spawn a process. */
async function serve(
  nonce: string,
  input: ReturnType<typeof createInterface>,
  listen: (onLine: (line: string) => void) => void,
): Promise<void> {
  const mode = process.env.BERTH_AGENT || 'claude';
  const send: (frame: Frame) => void = stdoutFrames(nonce, (text) => process.stdout.write(text));
  let agent: AgentMode;
  try {
    agent = await pickAgent(mode, process.env);
  } catch (err) {
    exit(2, `cannot start ${mode} mode: ${err instanceof Error ? err.message : err}`);
  }
  const every = heartbeatMs(process.env.BERTH_HEARTBEAT_MS);

  // Model and egress proxies are reached over mounted sockets; turns wait until the relays listen.
  const forwarding = startForwarders(process.env.BERTH_FORWARD, log).catch((err: Error) =>
    exit(2, `cannot start proxy forwarders: ${err.message}`),
  );
  const queue: Inbound[] = [];
  let working = false;
  let closing = false;

  async function runTurn(msg: Inbound): Promise<void> {
    log(`message id=${msg.id} seq=${msg.seq} chars=${msg.text.length}`);
    const timer = setInterval(() => send({ type: 'heartbeat' }), every);
    const turn: Turn = {
      ...msg,
      reply: (text) => send({ type: 'reply', inReplyTo: msg.id, text }),
      emit: send,
      log,
    };
    try {
      await agent.run(turn);
      send({ type: 'ack', id: msg.id });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`message id=${msg.id} failed: ${message}`);
      send({ type: 'error', id: msg.id, message });
    } finally {
      clearInterval(timer);
    }
  }

  async function pump(): Promise<void> {
    if (working) return;
    working = true;
    await forwarding;
    for (let msg = queue.shift(); msg; msg = queue.shift()) await runTurn(msg);
    working = false;
    if (closing) exit(0, 'close requested');
  }

  listen((line) => {
    if (closing || line.trim() === '') return;
    const parsed = parseLine(line);
    if (parsed === 'close') {
      closing = true;
      void pump();
    } else if (parsed === 'interrupt') {
      if (!working) return log('interrupt: no turn is running');
      log('interrupt requested');
      agent.interrupt?.().catch((err: Error) => log(`interrupt failed: ${err.message}`));
    } else if (typeof parsed === 'string') {
      log(`bad input: ${parsed}`);
      send({ type: 'error', message: parsed });
    } else {
      queue.push(parsed);
      void pump();
    }
  });
  input.on('close', () => {
    if (!closing) exit(0, 'stdin closed without close: host gone');
  });

  const ids = [process.env.BERTH_SESSION_ID, process.env.BERTH_GROUP_ID].map((v) => v || '-');
  log(`started mode=${mode} session=${ids[0]} group=${ids[1]} node=${process.version} pid=${process.pid}`);
  send({ type: 'ready' });
}

function main(): void {
  // The host reading our stdout is gone: nobody can receive replies any more.
  process.stdout.on('error', () => exit(0, 'stdout closed'));
  process.on('SIGTERM', () => exit(143, 'SIGTERM'));
  process.on('SIGINT', () => exit(130, 'SIGINT'));
  const input = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  let nonce: string | undefined;
  // Lines that arrive while the agent mode loads are kept, in order, for it.
  const waiting: string[] = [];
  let onLine: ((line: string) => void) | undefined;
  input.on('line', (line) => {
    if (nonce !== undefined) {
      if (onLine) onLine(line);
      else waiting.push(line);
      return;
    }
    // The first stdin line carries the frame nonce: unlike the environment, /proc/1/environ cannot show it.
    nonce = parseStart(line);
    if (nonce === undefined)
      exit(
        2,
        'the first stdin line must be {"type":"start","nonce":...} with 16-128 characters of [A-Za-z0-9_-]',
      );
    void serve(nonce, input, (handler) => {
      onLine = handler;
      for (const early of waiting.splice(0)) handler(early);
    });
  });
  input.once('close', () => {
    if (nonce === undefined) exit(0, 'stdin closed before the start line: host gone');
  });
}

main();

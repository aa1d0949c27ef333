import { readFileSync } from 'node:fs';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpProbe, tcpProbe, tunnelProbe } from './probes.ts';
import { errorCode, type Turn, TurnError } from './turn.ts';

/** The placeholder credential the host handed in; the credential proxy swaps it for the real one. */
function credentialHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  if (env.ANTHROPIC_API_KEY) return { 'x-api-key': env.ANTHROPIC_API_KEY };
  if (env.CLAUDE_CODE_OAUTH_TOKEN) return { authorization: `Bearer ${env.CLAUDE_CODE_OAUTH_TOKEN}` };
  return {};
}

/**
 * Echo mode: answers `echo: <text>`. With BERTH_AGENT_TEST_HOOKS=1 (test suites only), texts
 * starting with `!` are test hooks (container/README.md); otherwise they are echoed like any text.
 */
export function echoAgent(env: NodeJS.ProcessEnv): (turn: Turn) => Promise<void> {
  const hooksOn = env.BERTH_AGENT_TEST_HOOKS === '1';
  return async (turn) => {
    const match = hooksOn ? /^!(\S+)\s*([\s\S]*)$/.exec(turn.text) : null;
    if (!match) {
      turn.reply(`echo: ${turn.text}`);
      return;
    }
    const name = match[1]!;
    if (!Object.hasOwn(hooks, name)) throw new TurnError(`unknown test hook !${name}`);
    turn.reply(await hooks[name]!(match[2]!, turn));
  };
}

type Hook = (args: string, turn: Turn) => Promise<string> | string;

function count(raw: string | undefined, name: string): number {
  const n = Number(raw);
  if (!raw || !Number.isInteger(n) || n < 0) throw new TurnError(`${name} must be a whole number`);
  return n;
}

/** First word and the rest of the argument string. */
function split(args: string): [string, string] {
  const m = /^(\S*)\s?([\s\S]*)$/.exec(args)!;
  return [m[1]!, m[2]!];
}

const hooks: Record<string, Hook> = {
  stderr(args) {
    const [n, len] = args.split(/\s+/);
    const lines = count(n, 'N');
    const width = len ? count(len, 'len') : 0;
    for (let i = 1; i <= lines; i++) process.stderr.write(`${`stderr line ${i}`.padEnd(width, '.')}\n`);
    return `stderr: ${lines} lines`;
  },
  sleep(args) {
    const ms = count(args.trim(), 'MS');
    // Blocks the event loop on purpose: no heartbeat can be sent meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return `slept ${ms}`;
  },
  async busy(args) {
    const ms = count(args.trim(), 'MS');
    await sleep(ms);
    return `busy ${ms}`;
  },
  exit(args) {
    const code = count(args.trim() || '0', 'CODE');
    process.stderr.write(`berth-agent: exit ${code}: requested by test hook\n`);
    process.exit(code);
  },
  oom: () => allocateUntilKilled(),
  env: () => JSON.stringify(process.env),
  async read(args) {
    try {
      return await readFile(args.trim(), 'utf8');
    } catch (err) {
      return errorCode(err);
    }
  },
  async write(args) {
    const [path, text] = split(args);
    try {
      await writeFile(path, text);
      return 'ok';
    } catch (err) {
      return errorCode(err);
    }
  },
  async ls(args) {
    try {
      return (await readdir(args.trim() || '.')).sort().join('\n');
    } catch (err) {
      return errorCode(err);
    }
  },
  async fill(args) {
    const [path, mib] = split(args.trim());
    const n = count(mib, 'MIB');
    const chunk = Buffer.alloc(2 ** 20, 0x78);
    try {
      for (let i = 0; i < n; i++) await appendFile(path, chunk);
      return `filled ${n}`;
    } catch (err) {
      return errorCode(err);
    }
  },
  fetch: (args) => fetchHook(args),
  tcp: (args) => tcpProbe(args),
  http: (args) => httpProbe(args),
  tunnel: (args) => tunnelProbe(args),
  flood(args) {
    const n = count(args.trim(), 'N');
    for (let i = 1; i <= n; i++) {
      process.stdout.write(`flood stdout ${i}\n`);
      process.stderr.write(`flood stderr ${i}\n`);
    }
    return `flooded ${n}`;
  },
};

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']);

/** `!fetch [METHOD] PATH [BODY]`: a request to the model endpoint with the run's placeholder credential. */
async function fetchHook(args: string): Promise<string> {
  let [first, rest] = split(args.trim());
  let method = '';
  if (METHODS.has(first)) {
    method = first;
    [first, rest] = split(rest);
  }
  const body = rest === '' ? undefined : rest;
  const base = (process.env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com').replace(/\/+$/, '');
  try {
    const res = await fetch(`${base}${first}`, {
      method: method || (body === undefined ? 'GET' : 'POST'),
      headers: { ...credentialHeaders(process.env), 'content-type': 'application/json' },
      body,
    });
    return `${res.status}\n${await res.text()}`;
  } catch (err) {
    return `ERR ${errorCode(err instanceof Error && err.cause ? err.cause : err)}`;
  }
}

function memoryLimit(): number | undefined {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const n = Number(readFileSync(file, 'utf8').trim());
      return Number.isFinite(n) && n < totalmem() ? n : undefined;
    } catch {
      // Not this cgroup version: try the next file.
    }
  }
  return undefined;
}

/** Only runs under a memory limit, so a stray `!oom` cannot eat the host's memory. */
function allocateUntilKilled(): never {
  const limit = memoryLimit();
  if (limit === undefined) throw new TurnError('!oom needs a container memory limit');
  const hold: Buffer[] = [];
  for (let total = 0; total < limit * 2 + 2 ** 30; total += 2 ** 23) hold.push(Buffer.alloc(2 ** 23, 1));
  throw new TurnError(`allocated ${hold.length * 8} MiB without being killed`);
}

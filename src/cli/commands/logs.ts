import { call } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { id, int, str } from '../command.ts';
import { EXIT, UsageError } from '../errors.ts';
import { print } from '../output.ts';
import type { Event } from './follow.ts';

const KINDS = ['log', 'output', 'lifecycle', 'tool', 'usage'];

/** The readable part of an event: its text or line, else its type and remaining fields. */
function describe(event: Event): string {
  const data = event.data as Record<string, unknown>;
  if (typeof data.text === 'string') return data.text;
  if (typeof data.line === 'string') return data.line;
  const { type, ...rest } = data;
  const tail = Object.keys(rest).length ? JSON.stringify(rest) : '';
  return [typeof type === 'string' ? type : '', tail].filter(Boolean).join(' ');
}

/** One event per line: seq, time, kind/stream, text. With --json, the Event object (NDJSON). */
function printer(json: boolean): (event: Event) => void {
  if (json) return (event) => print(JSON.stringify(event));
  return (event) => {
    const label = event.stream ? `${event.kind}/${event.stream}` : event.kind;
    print(
      `${String(event.seq).padStart(6)}  ${event.time.slice(11, 19)}  ${label.padEnd(16)}  ${describe(event)}`,
    );
  };
}

function parseKinds(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const kinds = raw.split(',').map((k) => k.trim());
  const bad = kinds.filter((k) => !KINDS.includes(k));
  if (bad.length || !kinds.length)
    throw new UsageError(`--kinds takes a comma-separated list of ${KINDS.join(', ')}; got "${raw}"`);
  return kinds.join(',');
}

/** Every stored event after `after`, page by page. */
async function printStored(ctx: Context, sessionId: string, after: number, kinds: string | undefined) {
  const show = printer(ctx.json);
  let cursor = after;
  for (;;) {
    const page = await call(
      ctx.config.url,
      ctx.api.GET('/v1/sessions/{sessionId}/events', {
        params: { path: { sessionId }, query: { after: cursor, limit: 500, ...(kinds ? { kinds } : {}) } },
      }),
    );
    for (const event of page.items) show(event);
    if (!page.items.length || page.nextAfter <= cursor) return;
    cursor = page.nextAfter;
  }
}

const logs: Command = {
  name: 'logs',
  usage: '<session> [-f] [--after SEQ] [--kinds KIND,…]',
  summary: "Print a session's events: replies, stderr lines, lifecycle, tool calls and usage.",
  details: [
    '-f, --follow    keep printing live events over the WebSocket stream until Ctrl-C;',
    '                a dropped connection is resumed after the last seq shown',
    '--after SEQ     only events after this seq (default 0: every retained event)',
    `--kinds KINDS   comma-separated: ${KINDS.join(', ')}`,
    '--json          one Event object per line',
  ],
  options: {
    follow: { type: 'boolean', short: 'f' },
    after: { type: 'string' },
    kinds: { type: 'string' },
  },
  arity: [1, 1],
  async run(ctx) {
    const sessionId = id(ctx.args[0]!, 'session');
    const after = int(ctx.values, 'after') ?? 0;
    const kinds = parseKinds(str(ctx.values, 'kinds'));
    if (!ctx.values.follow) {
      await printStored(ctx, sessionId, after, kinds);
      return EXIT.ok;
    }
    // Loaded on demand: only -f needs the WebSocket client.
    const { followEvents } = await import('./follow.ts');
    return followEvents({
      url: ctx.config.url,
      token: ctx.config.token,
      sessionId,
      after,
      kinds,
      onEvent: printer(ctx.json),
    });
  },
};

export const logCommands: Command[] = [logs];

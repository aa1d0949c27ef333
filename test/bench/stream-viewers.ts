import process from 'node:process';
import { WebSocket } from 'ws';

/**
 * The bench's WebSocket viewers, in their own process so they never share berth's (or the baseline
 * server's) event loop. Driven over IPC: `open` a group of viewers, which report `opened`, then
 * `done` once each has seen the expected stderr lines (or `failed`); `close` ends a group.
 */
export interface OpenGroup {
  cmd: 'open';
  group: string;
  url: string;
  count: number;
  /** Seq each viewer starts after (its frames must continue it without a gap). */
  after: number;
  /** stderr lines (`stderr line <i>`, i = 1..lines) each viewer must see, in order. */
  lines: number;
  protocols: string[];
  headers: Record<string, string>;
}

export type ViewerReport =
  | { type: 'opened'; group: string }
  | { type: 'done'; group: string; events: number; frames: number; gaps: number; shed: number }
  | { type: 'failed'; group: string; error: string };

const send = (report: ViewerReport) => process.send!(report);
const groups = new Map<string, WebSocket[]>();

function openViewer(
  g: OpenGroup,
): Promise<{ socket: WebSocket; done: Promise<Omit<ViewerReport & { type: 'done' }, 'type' | 'group'>> }> {
  const socket = new WebSocket(g.url, g.protocols, { headers: g.headers, maxPayload: 64 * 2 ** 20 });
  let last = g.after;
  let line = 0;
  let events = 0;
  let frames = 0;
  let gaps = 0;
  let shed = 0;
  const done = new Promise<{ events: number; frames: number; gaps: number; shed: number }>(
    (resolve, reject) => {
      socket.on('message', (raw) => {
        frames++;
        const msg = JSON.parse(String(raw)) as { type: string; events?: Event[] } & Event;
        if (msg.type === 'overflow') return reject(new Error(`overflow at seq ${last}`));
        for (const e of msg.type === 'events' ? msg.events! : [msg]) {
          events++;
          if (e.seq !== last + 1) gaps++;
          last = e.seq;
          if (e.kind === 'lifecycle' && e.data.type === 'logs_dropped') shed += Number(e.data.count);
          if (e.kind !== 'log' || e.stream !== 'stderr') continue;
          const m = /^stderr line (\d+)/.exec(String(e.data.line));
          if (!m) continue;
          if (Number(m[1]) !== line + 1) gaps++;
          line = Number(m[1]);
        }
        if (line >= g.lines) resolve({ events, frames, gaps, shed });
      });
      socket.once('close', (code) =>
        reject(new Error(`closed with ${code} at seq ${last}, line ${line}/${g.lines}`)),
      );
    },
  );
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket, done }));
    socket.once('error', reject);
  });
}

interface Event {
  seq: number;
  kind: string;
  stream: string | null;
  data: Record<string, unknown>;
}

async function open(g: OpenGroup): Promise<void> {
  const viewers = await Promise.all(Array.from({ length: g.count }, () => openViewer(g)));
  groups.set(
    g.group,
    viewers.map((v) => v.socket),
  );
  send({ type: 'opened', group: g.group });
  const results = await Promise.all(viewers.map((v) => v.done));
  send({
    type: 'done',
    group: g.group,
    events: Math.min(...results.map((r) => r.events)),
    frames: results.reduce((sum, r) => sum + r.frames, 0),
    gaps: results.reduce((sum, r) => sum + r.gaps, 0),
    shed: Math.max(...results.map((r) => r.shed)),
  });
}

process.on('message', (msg: OpenGroup | { cmd: 'close'; group: string }) => {
  if (msg.cmd === 'close') {
    for (const socket of groups.get(msg.group) ?? []) socket.close();
    groups.delete(msg.group);
    return;
  }
  open(msg).catch((err: Error) => send({ type: 'failed', group: msg.group, error: err.message }));
});
// The parent going away ends the viewers too.
process.on('disconnect', () => process.exit(0));

import process from 'node:process';
import WebSocket from 'ws';
import type { components } from '../../http/api.d.ts';
import { describeProblem, exitCodeFor } from '../client.ts';
import { EXIT } from '../errors.ts';
import { note } from '../output.ts';

export type Event = components['schemas']['Event'];
type Frame = components['schemas']['StreamFrame'];
type StreamEvent = components['schemas']['StreamEventsFrame']['events'][number];

export interface FollowOptions {
  url: string;
  token: string | undefined;
  sessionId: string;
  after: number;
  kinds: string | undefined;
  onEvent: (event: Event) => void;
}

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
/** RFC 6455 subprotocol names are RFC 7230 tokens. */
const SUBPROTOCOL = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Follows a session's stream over WebSocket until SIGINT/SIGTERM (exit 0) or a fatal refusal.
 * A dropped connection is reopened with `after=<last seq>`, so nothing is shown twice or skipped.
 */
export function followEvents(opts: FollowOptions): Promise<number> {
  const base = opts.url.replace(/^http/, 'ws');
  // berth.v2 batches events per frame; the token as a subprotocol is never echoed back.
  // A token with characters a subprotocol cannot carry (a hand-set BERTH_API_TOKEN) goes in the header.
  const asProtocol = opts.token !== undefined && SUBPROTOCOL.test(opts.token);
  const protocols = asProtocol ? ['berth.v2', 'berth.v1', `bearer.${opts.token}`] : ['berth.v2', 'berth.v1'];
  const headers: Record<string, string> =
    opts.token && !asProtocol ? { authorization: `Bearer ${opts.token}` } : {};
  let last = opts.after;
  let opened = false;
  let lost = false;
  let stopped = false;
  let delay = FIRST_DELAY_MS;
  let socket: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;

  return new Promise((resolve) => {
    const finish = (code: number, message?: string) => {
      if (stopped) return;
      stopped = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      clearTimeout(timer);
      if (message) note(`berth: ${message}`);
      if (socket && socket.readyState === WebSocket.OPEN) socket.close(1000);
      else socket?.terminate();
      resolve(code);
    };
    const onSignal = () => finish(EXIT.ok);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    const retry = (why: string) => {
      if (stopped) return;
      if (!lost) note(`stream ${why}; reconnecting after seq ${last}`);
      lost = true;
      timer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    };

    const onFrame = (raw: WebSocket.RawData) => {
      let frame: Frame;
      try {
        frame = JSON.parse(String(raw)) as Frame;
      } catch {
        return; // the server sends only JSON frames; anything else is not an event
      }
      if (frame.type === 'overflow') return; // the 4008 close follows and the reconnect resumes at `last`
      const events = frame.type === 'events' ? frame.events : [frame];
      for (const { type: _type, ...event } of events as (StreamEvent & { type?: string })[]) {
        if (event.seq <= last) continue;
        last = event.seq;
        opts.onEvent(event);
      }
    };

    function connect() {
      const query = new URLSearchParams({ after: String(last) });
      if (opts.kinds) query.set('kinds', opts.kinds);
      const ws = new WebSocket(`${base}/v1/sessions/${opts.sessionId}/stream?${query}`, protocols, {
        headers,
      });
      socket = ws;
      let refused = false;
      ws.on('unexpected-response', (_req, res) => {
        refused = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          let parsed: unknown = body;
          try {
            parsed = JSON.parse(body);
          } catch {
            // not JSON: shown as text
          }
          const message = describeProblem(parsed, status);
          if (status >= 500 && opened) retry(message);
          else finish(exitCodeFor(status), message);
        });
      });
      ws.on('open', () => {
        if (lost) note(`reconnected; resuming after seq ${last}`);
        opened = true;
        lost = false;
        delay = FIRST_DELAY_MS;
      });
      ws.on('message', onFrame);
      ws.on('error', (err: NodeJS.ErrnoException) => {
        if (opened || refused) return; // 'close' follows and decides
        finish(
          EXIT.unreachable,
          `cannot reach berth at ${opts.url} (${err.code ?? err.message}): start it with \`npm start\`, or point BERTH_URL / --url at it`,
        );
      });
      ws.on('close', (code, reason) => {
        if (stopped || refused || !opened) return;
        const text = reason.toString();
        if (code === 4001) finish(EXIT.auth, `stream closed by the server: ${text || 'key revoked'}`);
        else retry(`closed (${code}${text ? `: ${text}` : ''})`);
      });
    }
    connect();
  });
}

import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { TestServer } from './server.ts';

export interface ApiEvent {
  seq: number;
  kind: 'log' | 'output' | 'lifecycle' | 'tool' | 'usage';
  stream: string | null;
  generation: number | null;
  time: string;
  data: Record<string, unknown>;
}

export async function json<T = Record<string, unknown>>(res: Response, status?: number): Promise<T> {
  const body = (await res.json()) as T;
  if (status !== undefined) expect(res.status, JSON.stringify(body)).toBe(status);
  return body;
}

/** A group (with optional container settings) and one session in it. */
export async function newSession(
  server: TestServer,
  group: { trust?: 'admin' | 'member'; containerConfig?: Record<string, unknown> } = {},
): Promise<{ groupId: string; sessionId: string }> {
  const folder = `g${Math.random().toString(36).slice(2, 10)}`;
  const g = await json<{ id: string }>(
    await server.api('/v1/groups', { method: 'POST', json: { name: folder, folder, ...group } }),
    201,
  );
  const s = await json<{ id: string }>(
    await server.api('/v1/sessions', { method: 'POST', json: { groupId: g.id } }),
    201,
  );
  return { groupId: g.id, sessionId: s.id };
}

export async function post(server: TestServer, sessionId: string, text: string, key?: string) {
  const res = await server.api(`/v1/sessions/${sessionId}/messages`, {
    method: 'POST',
    json: { text },
    ...(key ? { headers: { 'idempotency-key': key } } : {}),
  });
  return json<{ id: string; seq: number; status: string }>(res);
}

/** Long-polls the event API until `done` says the collected events suffice, or fails after `timeoutMs`. */
export async function collectEvents(
  server: TestServer,
  sessionId: string,
  done: (events: ApiEvent[]) => boolean,
  opts: { kinds?: string; timeoutMs?: number } = {},
): Promise<ApiEvent[]> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  const events: ApiEvent[] = [];
  let after = 0;
  while (!done(events)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for events; saw ${JSON.stringify(events.slice(-8))}`);
    const q = new URLSearchParams({ after: String(after), wait: String(Math.min(left, 5000)), limit: '500' });
    if (opts.kinds) q.set('kinds', opts.kinds);
    const page = await json<{ items: ApiEvent[]; nextAfter: number }>(
      await server.api(`/v1/sessions/${sessionId}/events?${q}`),
      200,
    );
    events.push(...page.items);
    after = page.nextAfter;
  }
  return events;
}

export const lifecycle = (events: ApiEvent[], type: string) =>
  events.filter((e) => e.kind === 'lifecycle' && e.data.type === type);

export const replies = (events: ApiEvent[]) => events.filter((e) => e.kind === 'output');

export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

/** Sends one message and returns the agent's reply text. */
export async function ask(server: TestServer, sessionId: string, text: string): Promise<string> {
  const msg = await post(server, sessionId, text);
  const events = await collectEvents(
    server,
    sessionId,
    (e) => replies(e).some((r) => r.data.inReplyTo === msg.id),
    {
      kinds: 'output',
    },
  );
  return String(replies(events).find((r) => r.data.inReplyTo === msg.id)!.data.text);
}

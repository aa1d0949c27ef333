import { setTimeout as sleep } from 'node:timers/promises';
import type { BerthProcess } from '../support/berth-process.ts';

export interface Outcome {
  fault: string;
  accepted: number;
  answered: number;
  failed: number;
  duplicated: number;
  lost: number;
  recoverMs: number | undefined;
  crashes: number;
}

interface Accepted {
  id: string;
  at: number;
}

/**
 * A steady stream of messages to one session, each sent with its own Idempotency-Key and retried
 * (same key) on 503 or a refused connection until accepted, as a careful client would.
 */
export class MessageStream {
  readonly accepted = new Map<string, Accepted>();
  readonly rejected: string[] = [];
  readonly #target: () => BerthProcess;
  readonly #sessionId: string;

  constructor(target: () => BerthProcess, sessionId: string) {
    this.#target = target;
    this.#sessionId = sessionId;
  }

  /** Posts `count` messages `everyMs` apart; resolves once each is accepted or gave up (60 s). */
  async run(count: number, everyMs: number, tag: string): Promise<void> {
    const tasks: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      tasks.push(this.#post(`${tag}-${i}`));
      await sleep(everyMs);
    }
    await Promise.all(tasks);
  }

  async #post(key: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const res = await this.#target()
        .api(`/v1/sessions/${this.#sessionId}/messages`, {
          method: 'POST',
          json: { text: key },
          headers: { 'idempotency-key': key },
        })
        .catch(() => undefined);
      if (res && (res.status === 202 || res.status === 200)) {
        const body = (await res.json()) as { id: string };
        this.accepted.set(key, { id: body.id, at: Date.now() });
        return;
      }
      if (res && res.status !== 503) {
        this.rejected.push(`${key}: ${res.status} ${await res.text()}`);
        return;
      }
      await res?.body?.cancel();
      await sleep(200);
    }
    this.rejected.push(`${key}: not accepted within 60 s`);
  }
}

interface MessageView {
  id: string;
  status: string;
  error: string | null;
}

async function page<T>(target: BerthProcess, p: string): Promise<T> {
  const res = await target.api(p);
  if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Waits (bounded) until every accepted message is done or failed, then counts replies per message. */
export async function account(
  target: BerthProcess,
  sessionId: string,
  stream: MessageStream,
  opts: { fault: string; liftedAt: number; timeoutMs?: number },
): Promise<Outcome & { stuck: MessageView[] }> {
  const ids = new Set([...stream.accepted.values()].map((a) => a.id));
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let messages: MessageView[] = [];
  for (;;) {
    messages = [];
    let after = 0;
    for (let i = 0; i < 50; i++) {
      const p = await page<{ items: (MessageView & { seq: number })[]; nextAfter: number }>(
        target,
        `/v1/sessions/${sessionId}/messages?after=${after}&limit=200`,
      ).catch(() => ({ items: [], nextAfter: after }));
      messages.push(...p.items);
      if (p.items.length < 200) break;
      after = p.nextAfter;
    }
    const open = messages.filter((m) => ids.has(m.id) && m.status !== 'done' && m.status !== 'failed');
    if (open.length === 0 || Date.now() > deadline) break;
    await sleep(250);
  }
  const replies = new Map<string, number>();
  let firstReplyAfterLift: number | undefined;
  let after = 0;
  for (let i = 0; i < 100; i++) {
    const p = await page<{
      items: { seq: number; time: string; data: { inReplyTo?: string } }[];
      nextAfter: number;
    }>(target, `/v1/sessions/${sessionId}/events?kinds=output&after=${after}&limit=500`);
    for (const e of p.items) {
      const to = e.data.inReplyTo ?? '';
      replies.set(to, (replies.get(to) ?? 0) + 1);
      const t = Date.parse(e.time);
      if (t >= opts.liftedAt && firstReplyAfterLift === undefined) firstReplyAfterLift = t;
    }
    if (p.items.length < 500) break;
    after = p.nextAfter;
  }
  const byId = new Map(messages.map((m) => [m.id, m]));
  let answered = 0;
  let failed = 0;
  let duplicated = 0;
  const stuck: MessageView[] = [];
  for (const id of ids) {
    const m = byId.get(id);
    const n = replies.get(id) ?? 0;
    if (n > 1) duplicated++;
    if (m?.status === 'done' && n >= 1) answered++;
    else if (m?.status === 'failed' && m.error) failed++;
    else stuck.push(m ?? { id, status: 'missing', error: null });
  }
  return {
    fault: opts.fault,
    accepted: ids.size,
    answered,
    failed,
    duplicated,
    lost: stuck.length,
    recoverMs: firstReplyAfterLift === undefined ? undefined : firstReplyAfterLift - opts.liftedAt,
    crashes: target.exits.length,
    stuck,
  };
}

export function table(rows: Outcome[]): string {
  const head = [
    'fault',
    'accepted',
    'answered',
    'failed',
    'duplicated',
    'lost',
    'crashes',
    'time to recover',
  ];
  const lines = rows.map((r) => [
    r.fault,
    String(r.accepted),
    String(r.answered),
    String(r.failed),
    String(r.duplicated),
    String(r.lost),
    String(r.crashes),
    r.recoverMs === undefined ? '-' : `${(r.recoverMs / 1000).toFixed(1)} s`,
  ]);
  const fmt = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [fmt(head), fmt(head.map(() => '---')), ...lines.map(fmt)].join('\n');
}

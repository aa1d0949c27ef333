import type { components } from '../../http/api.d.ts';
import { readAttachment } from '../attach.ts';
import { call } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { id, int, str } from '../command.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { note, print, printJson } from '../output.ts';

type Message = components['schemas']['Message'];
type Answered = components['schemas']['MessageWithReplies'];

/** The longest single wait the API accepts; longer waits are several requests. */
const WAIT_CHUNK_MS = 60_000;

async function waitForAnswer(ctx: Context, message: Message, timeoutMs: number): Promise<Answered> {
  const deadline = Date.now() + timeoutMs;
  const path = { sessionId: message.sessionId, messageId: message.id };
  for (;;) {
    const wait = Math.max(0, Math.min(WAIT_CHUNK_MS, deadline - Date.now()));
    const answered = await call(
      ctx.config.url,
      ctx.api.GET('/v1/sessions/{sessionId}/messages/{messageId}', { params: { path, query: { wait } } }),
    );
    if (answered.status === 'done' || answered.status === 'failed' || wait === 0) return answered;
  }
}

/** The answer's text: the `reply` stream, or every output text when the agent used no reply stream. */
function replyTexts(answered: Answered): string[] {
  const texts = (stream?: string) =>
    answered.replies
      .filter((e) => stream === undefined || e.stream === stream)
      .map((e) => e.data.text)
      .filter((t): t is string => typeof t === 'string');
  const replies = texts('reply');
  return replies.length ? replies : texts();
}

const send: Command = {
  name: 'send',
  usage: '<session> <text> [--wait] [--timeout SECONDS] [--idempotency-key KEY] [--attach FILE]',
  summary: "Post a message to a session (waking it); with --wait, print the agent's reply to it.",
  details: [
    '--wait             wait until the message is done or failed and print its replies',
    '--timeout SECONDS  how long --wait waits (default 120); exit 1 when it runs out',
    '--idempotency-key  retrying with the same key returns the first message instead of a duplicate',
    '--attach FILE      attach a file (repeatable); the agent finds it under /workspace/inbox/<message id>/',
  ],
  options: {
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
    'idempotency-key': { type: 'string' },
    attach: { type: 'string', multiple: true },
  },
  arity: [2, 2],
  async run(ctx) {
    const sessionId = id(ctx.args[0]!, 'session');
    const text = ctx.args[1]!;
    if (!text) throw new UsageError('the message text is empty');
    const files = (ctx.values.attach as string[] | undefined) ?? [];
    const attachments = await Promise.all(files.map(readAttachment));
    const timeoutMs = (int(ctx.values, 'timeout') ?? 120) * 1000;
    const key = str(ctx.values, 'idempotency-key');
    const message = await call(
      ctx.config.url,
      ctx.api.POST('/v1/sessions/{sessionId}/messages', {
        params: { path: { sessionId }, ...(key ? { header: { 'Idempotency-Key': key } } : {}) },
        body: attachments.length ? { text, attachments } : { text },
      }),
    );
    if (!ctx.values.wait) {
      if (ctx.json) printJson(message);
      else print(`message ${message.id} (seq ${message.seq}) ${message.status}`);
      return EXIT.ok;
    }
    const answered = await waitForAnswer(ctx, message, timeoutMs);
    if (ctx.json) printJson(answered);
    else for (const t of replyTexts(answered)) print(t);
    if (answered.status === 'failed')
      throw new CliError(EXIT.server, `message ${message.id} failed: ${answered.error ?? 'no reason given'}`);
    if (answered.status !== 'done') {
      note(`no answer within ${timeoutMs / 1000} s: message ${message.id} is ${answered.status}`);
      note(`(follow the session with: berth logs ${sessionId} -f)`);
      return EXIT.server;
    }
    return EXIT.ok;
  },
};

export const sendCommands: Command[] = [send];

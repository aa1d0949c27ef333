import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { type Agent, TurnError } from './turn.ts';

export const DEFAULT_MODEL = 'claude-sonnet-4-5';
const MAX_TOKENS = 8192;

interface StoredMessage {
  role: 'user' | 'assistant';
  content: string;
  /** Inbound message id on user entries: a redelivered message is answered from here. */
  id?: string;
}

interface Conversation {
  version: 1;
  messages: StoredMessage[];
}

/** The placeholder credential the host handed in; the credential proxy swaps it for the real one. */
export function credentialHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  if (env.ANTHROPIC_API_KEY) return { 'x-api-key': env.ANTHROPIC_API_KEY };
  if (env.CLAUDE_CODE_OAUTH_TOKEN) return { authorization: `Bearer ${env.CLAUDE_CODE_OAUTH_TOKEN}` };
  return {};
}

async function load(file: string): Promise<Conversation> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Conversation;
    if (Array.isArray(parsed.messages)) return parsed;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TurnError(`cannot read ${file}: ${err}`);
  }
  return { version: 1, messages: [] };
}

/** Write-then-rename: a crash mid-write never leaves a torn conversation behind. */
async function save(file: string, conversation: Conversation): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(conversation, null, 1)}\n`);
  await rename(tmp, file);
}

function upstreamMessage(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { type?: string; message?: string } };
    if (parsed.error?.message)
      return `upstream ${status}: ${parsed.error.type ?? 'error'}: ${parsed.error.message}`;
  } catch {
    // Not Anthropic's JSON error shape: the raw body is reported below.
  }
  return `upstream ${status}: ${body.slice(0, 500) || 'no body'}`;
}

/** Reads an SSE body and concatenates the text deltas; an `error` event fails the turn. */
async function readStream(body: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  let text = '';
  const onEvent = (block: string): void => {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (!data) return;
    let event: {
      type?: string;
      delta?: { type?: string; text?: string };
      error?: { type?: string; message?: string };
    };
    try {
      event = JSON.parse(data);
    } catch {
      // A data line that is not JSON carries nothing the turn uses.
      return;
    }
    if (event.type === 'content_block_delta' && event.delta?.type === 'text_delta')
      text += event.delta.text ?? '';
    if (event.type === 'error')
      throw new TurnError(
        `upstream stream error: ${event.error?.type ?? 'error'}: ${event.error?.message ?? ''}`,
      );
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    for (let cut = buffer.indexOf('\n\n'); cut !== -1; cut = buffer.indexOf('\n\n')) {
      onEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
    }
  }
  onEvent(buffer + decoder.decode());
  return text;
}

/** Anthropic mode: one conversation per session folder, streamed Messages API calls through the proxy. */
export function anthropicAgent(env: NodeJS.ProcessEnv): Agent {
  const base = (env.ANTHROPIC_BASE_URL || 'https://api.anthropic.com').replace(/\/+$/, '');
  const model = env.BERTH_MODEL || DEFAULT_MODEL;
  const file = path.join(env.BERTH_WORKSPACE || '/workspace', '.berth', 'conversation.json');
  return async (turn) => {
    const conversation = await load(file);
    const seen = conversation.messages.findIndex((m) => m.role === 'user' && m.id === turn.id);
    const earlier = seen === -1 ? undefined : conversation.messages[seen + 1];
    if (earlier?.role === 'assistant') {
      turn.log(`message id=${turn.id} was answered before; replaying the stored reply`);
      turn.reply(earlier.content);
      return;
    }
    const messages = [...conversation.messages, { role: 'user' as const, content: turn.text, id: turn.id }];
    let res: Response;
    try {
      res = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: {
          ...credentialHeaders(env),
          'anthropic-version': '2023-06-01',
          'content-type': 'application/json',
          accept: 'text/event-stream',
        },
        body: JSON.stringify({
          model,
          max_tokens: MAX_TOKENS,
          stream: true,
          messages: messages.map(({ role, content }) => ({ role, content })),
        }),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new TurnError(`upstream unreachable at ${base}${cause}`);
    }
    if (!res.ok || !res.body) throw new TurnError(upstreamMessage(res.status, await res.text()));
    const text = await readStream(res.body);
    // The API refuses empty turns in a later request, so an empty answer is stored as a placeholder.
    await save(file, {
      version: 1,
      messages: [...messages, { role: 'assistant', content: text || '(empty reply)' }],
    });
    turn.reply(text);
  };
}

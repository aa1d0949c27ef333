import type { Step } from './fake-model.ts';

/** The parts of a Messages API request body the scripts look at. */
export interface ModelRequest {
  system?: string | { type: string; text: string }[];
  tools?: { name: string }[];
  messages: { role: string; content: string | { type: string; text?: string; content?: unknown }[] }[];
}

export const asRequest = (body: unknown) => body as ModelRequest;

export function systemText(req: ModelRequest): string {
  return typeof req.system === 'string' ? req.system : (req.system ?? []).map((b) => b.text).join('\n');
}

export const toolNames = (req: ModelRequest) => (req.tools ?? []).map((t) => t.name);

/** Every text the conversation carries (user and assistant, tool results included), for continuity checks. */
export function conversationText(req: ModelRequest): string {
  return JSON.stringify(req.messages);
}

/** The tool results the last user message carries, as text. */
export function lastToolResults(req: ModelRequest): string[] {
  const last = req.messages.at(-1);
  if (!last || typeof last.content === 'string') return [];
  return last.content
    .filter((b) => b.type === 'tool_result')
    .map((b) =>
      typeof b.content === 'string'
        ? b.content
        : ((b.content as { text?: string }[] | undefined) ?? []).map((p) => p.text ?? '').join('\n'),
    );
}

/** The last user message's own text (not tool results or the reminders the agent adds). */
export function lastUserText(req: ModelRequest): string {
  const last = req.messages.at(-1);
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  const own = last.content.filter((b) => b.type === 'text' && !b.text?.trimStart().startsWith('<'));
  return own.at(-1)?.text ?? '';
}

/**
 * A model that answers a request without tools (the agent's side calls) with plain text, asks for
 * one tool call when a user message arrives, and answers `Done: <tool output>` once the result is back.
 */
export function oneToolCall(
  name: string,
  input: (req: ModelRequest) => unknown,
): (r: { body: unknown }) => Step {
  return ({ body }) => {
    const req = asRequest(body);
    if (!req.tools?.length) return 'ok';
    const results = lastToolResults(req);
    if (results.length > 0) return `Done: ${results.join('\n')}`;
    return { text: 'Working on it.', tools: [{ name, input: input(req) }] };
  };
}

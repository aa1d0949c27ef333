import type { Turn } from './turn.ts';

/** Longest input or result summary a tool event carries; the rest is cut. */
export const SUMMARY_CHARS = 2000;

export function summarize(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS)}…[${text.length} chars]` : text;
}

function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return summarize(content);
  return content
    .map((part: { type?: string; text?: string }) =>
      part.type === 'text' ? (part.text ?? '') : `[${part.type}]`,
    )
    .join('\n');
}

interface Open {
  name: string;
  input: string;
  started: number;
}

/** Turns tool_use / tool_result pairs into one `tool` frame each: name, bounded summaries, duration, error flag. */
export class ToolTracker {
  readonly #open = new Map<string, Open>();

  constructor(private readonly turn: Turn) {}

  started(id: string, name: string, input: unknown): void {
    const open = { name, input: summarize(input), started: Date.now() };
    this.#open.set(id, open);
    this.turn.emit({
      type: 'tool',
      inReplyTo: this.turn.id,
      toolUseId: id,
      name,
      phase: 'start',
      input: open.input,
    });
  }

  /** Reads tool_result blocks out of a user message's content. */
  finished(content: unknown): void {
    if (!Array.isArray(content)) return;
    for (const block of content as {
      type?: string;
      tool_use_id?: string;
      content?: unknown;
      is_error?: boolean;
    }[]) {
      if (block.type !== 'tool_result' || !block.tool_use_id) continue;
      this.#end(block.tool_use_id, summarize(resultText(block.content)), block.is_error === true);
    }
  }

  /** Calls that never got a result (an interrupt, a failed turn) end as errors. */
  abandon(): void {
    for (const id of [...this.#open.keys()]) this.#end(id, 'no result: the turn ended first', true);
  }

  #end(id: string, result: string, isError: boolean): void {
    const open = this.#open.get(id);
    if (!open) return;
    this.#open.delete(id);
    this.turn.emit({
      type: 'tool',
      inReplyTo: this.turn.id,
      toolUseId: id,
      name: open.name,
      phase: 'end',
      input: open.input,
      result,
      isError,
      durationMs: Date.now() - open.started,
    });
  }
}

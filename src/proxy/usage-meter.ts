import { StringDecoder } from 'node:string_decoder';
import type { TokenUsage } from './pricing.ts';

/** The usage of one model response and the model that answered (undefined if the body never said). */
export interface ModelUsage extends TokenUsage {
  model: string | undefined;
}

/** Reads usage from a response body as it passes; push() never holds bytes back from the client. */
export interface UsageMeter {
  push(chunk: Buffer): void;
  /** The usage seen so far; undefined when the body carried none (an error, or not a message). */
  result(): ModelUsage | undefined;
}

// A data line longer than this is a content delta, never a usage event: it is skipped, not buffered.
const MAX_LINE = 256 * 1024;
// A non-streamed message larger than this is not parsed (max_tokens bounds real ones far below it).
const MAX_JSON = 8 * 1024 * 1024;

type Counts = Partial<Record<keyof TokenUsage, number>>;

const API_FIELDS: Record<string, keyof TokenUsage> = {
  input_tokens: 'inputTokens',
  output_tokens: 'outputTokens',
  cache_creation_input_tokens: 'cacheCreationInputTokens',
  cache_read_input_tokens: 'cacheReadInputTokens',
};

/** Later usage objects restate totals (message_delta's output_tokens is cumulative): last value wins. */
function merge(into: Counts, usage: unknown): boolean {
  if (typeof usage !== 'object' || usage === null) return false;
  let seen = false;
  for (const [api, field] of Object.entries(API_FIELDS)) {
    const n = (usage as Record<string, unknown>)[api];
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) {
      into[field] = n;
      seen = true;
    }
  }
  return seen;
}

function finish(counts: Counts, seen: boolean, model: string | undefined): ModelUsage | undefined {
  if (!seen) return undefined;
  return {
    model,
    inputTokens: counts.inputTokens ?? 0,
    outputTokens: counts.outputTokens ?? 0,
    cacheCreationInputTokens: counts.cacheCreationInputTokens ?? 0,
    cacheReadInputTokens: counts.cacheReadInputTokens ?? 0,
  };
}

/** `message_start` carries the model and input/cache tokens; `message_delta` the output tokens. */
function sseMeter(): UsageMeter {
  const decoder = new StringDecoder('utf8');
  const counts: Counts = {};
  let model: string | undefined;
  let seen = false;
  let partial = '';
  let skipping = false;
  const line = (text: string) => {
    // Anthropic sends each event's JSON on one `data:` line; only lines naming usage are parsed.
    if (!text.startsWith('data:') || !text.includes('"usage"')) return;
    let event: { type?: unknown; message?: { model?: unknown; usage?: unknown }; usage?: unknown };
    try {
      event = JSON.parse(text.slice(5));
    } catch {
      return;
    }
    if (event.type === 'message_start') {
      if (typeof event.message?.model === 'string') model = event.message.model;
      seen = merge(counts, event.message?.usage) || seen;
    } else if (event.type === 'message_delta') {
      seen = merge(counts, event.usage) || seen;
    }
  };
  return {
    push(chunk) {
      const text = decoder.write(chunk);
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        if (!skipping) line((partial + text.slice(start, end)).replace(/\r$/, ''));
        partial = '';
        skipping = false;
        start = end + 1;
      }
      if (skipping) return;
      partial += text.slice(start);
      if (partial.length > MAX_LINE) {
        partial = '';
        skipping = true;
      }
    },
    result: () => finish(counts, seen, model),
  };
}

/** A non-streamed message: its copy is kept (bounded) and parsed once it is complete. */
function jsonMeter(): UsageMeter {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      size += chunk.length;
      if (size <= MAX_JSON) chunks.push(chunk);
    },
    result() {
      if (size > MAX_JSON) return undefined;
      let body: { model?: unknown; usage?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return undefined;
      }
      const counts: Counts = {};
      const seen = merge(counts, body?.usage);
      return finish(counts, seen, typeof body?.model === 'string' ? body.model : undefined);
    },
  };
}

/** A meter for a Messages API response of this content type and encoding, or undefined when it cannot be read. */
export function usageMeter(
  contentType: string | undefined,
  contentEncoding: string | undefined,
): UsageMeter | undefined {
  if (contentEncoding && contentEncoding.toLowerCase() !== 'identity') return undefined;
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/event-stream') return sseMeter();
  if (type === 'application/json') return jsonMeter();
  return undefined;
}

/** The frames of the agent protocol and their validation (see container/README.md). */
export interface MessageInput {
  id: string;
  seq: number;
  text: string;
}

export type HostCommand = ({ type: 'message' } & MessageInput) | { type: 'close' } | { type: 'interrupt' };

/** One tool call: a `start` frame when the model asks for it, an `end` frame with its result. */
export interface ToolFrame {
  type: 'tool';
  inReplyTo: string;
  toolUseId: string;
  name: string;
  phase: 'start' | 'end';
  /** Bounded summaries (the runner cuts them). */
  input: string;
  result?: string;
  isError?: boolean;
  durationMs?: number;
}

/** The end of a turn's model work: tokens, the SDK's cost estimate for this turn, turns taken. */
export interface UsageFrame {
  type: 'usage';
  inReplyTo: string;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  costUsd: number;
  turns: number;
  durationMs: number;
  interrupted?: boolean;
}

export type Frame =
  | { type: 'ready' }
  | { type: 'reply'; inReplyTo: string; text: string }
  | { type: 'text'; inReplyTo: string; text: string }
  | ToolFrame
  | UsageFrame
  | { type: 'ack'; id: string }
  | { type: 'heartbeat' }
  | { type: 'error'; id?: string; message: string };

export type FrameType = Frame['type'];

export function preview(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function validateTool(v: Record<string, unknown>): ToolFrame | string {
  if (![v.inReplyTo, v.toolUseId, v.name, v.input].every(isString))
    return 'tool needs string inReplyTo, toolUseId, name and input';
  if (v.phase !== 'start' && v.phase !== 'end') return 'tool phase must be start or end';
  if (v.result !== undefined && !isString(v.result)) return 'tool result is not a string';
  if (v.durationMs !== undefined && !isCount(v.durationMs)) return 'tool durationMs is not a count';
  const frame: ToolFrame = {
    type: 'tool',
    inReplyTo: v.inReplyTo as string,
    toolUseId: v.toolUseId as string,
    name: v.name as string,
    phase: v.phase,
    input: v.input as string,
  };
  if (v.result !== undefined) frame.result = v.result as string;
  if (v.isError !== undefined) frame.isError = v.isError === true;
  if (v.durationMs !== undefined) frame.durationMs = v.durationMs as number;
  return frame;
}

const USAGE_COUNTS = [
  'inputTokens',
  'outputTokens',
  'cacheReadTokens',
  'cacheCreationTokens',
  'costUsd',
  'turns',
  'durationMs',
] as const;

function validateUsage(v: Record<string, unknown>): UsageFrame | string {
  if (!isString(v.inReplyTo)) return 'usage without a string inReplyTo';
  const bad = USAGE_COUNTS.find((k) => !isCount(v[k]));
  if (bad) return `usage ${bad} is not a count`;
  const frame = { type: 'usage', inReplyTo: v.inReplyTo } as UsageFrame;
  for (const k of USAGE_COUNTS) frame[k] = v[k] as number;
  if (v.interrupted === true) frame.interrupted = true;
  return frame;
}

/** Checks a decoded payload against the frame union; returns the frame or why it was refused. */
export function validateFrame(value: unknown): Frame | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return 'payload is not a JSON object';
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'ready':
      return { type: 'ready' };
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'ack':
      return isString(v.id) ? { type: 'ack', id: v.id } : 'ack without a string id';
    case 'reply':
    case 'text':
      return isString(v.inReplyTo) && isString(v.text)
        ? { type: v.type, inReplyTo: v.inReplyTo, text: v.text }
        : `${v.type} needs string inReplyTo and text`;
    case 'tool':
      return validateTool(v);
    case 'usage':
      return validateUsage(v);
    case 'error':
      if (!isString(v.message)) return 'error without a string message';
      if (v.id !== undefined && !isString(v.id)) return 'error id is not a string';
      return v.id === undefined
        ? { type: 'error', message: v.message }
        : { type: 'error', id: v.id, message: v.message };
    default:
      return `unknown frame type ${preview(JSON.stringify(v.type) ?? 'undefined')}`;
  }
}

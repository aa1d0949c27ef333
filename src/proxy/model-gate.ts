import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CATALOGUE } from '../errors.ts';
import { fail } from './replies.ts';
import { type ModelUsage, usageMeter } from './usage-meter.ts';

/** A group's model rules (`containerConfig.models`). */
export interface ModelRules {
  /** Models the group may call: exact names, or prefixes ending in `*`. Absent: any model. */
  allow?: string[];
  /** Tokens of every kind (input, output, cache writes and reads) per UTC day, for the whole group. */
  tokensPerDay?: number;
  /** Messages API requests per rolling minute, for the whole group. */
  requestsPerMinute?: number;
}

export type GateCode = 'MODEL_CAP_EXCEEDED' | 'MODEL_NOT_ALLOWED' | 'MODEL_GATE_UNAVAILABLE';

export interface Refusal {
  code: GateCode;
  detail: string;
  /** Which cap was reached, its limit and the usage that reached it. */
  cap?: { name: 'tokensPerDay' | 'requestsPerMinute'; limit: number; used: number };
  retryAfterSeconds?: number;
}

export type Admission = { ok: true; allow: readonly string[] | undefined } | { ok: false; refusal: Refusal };

/** Who a proxied request belongs to. */
export interface GateContext {
  sessionId: string;
  generation: number | undefined;
}

/** The usage of one proxied model response; `model` falls back to the request's, then `unknown`. */
export interface UsageRecord extends ModelUsage {
  model: string;
  status: number;
}

/** What the credential proxy asks before forwarding a model call and tells after its response. */
export interface ModelGate {
  /** The group's allowlist, or a refusal; `counted` requests (Messages API calls) count toward the rate cap. */
  admit(ctx: GateContext, counted: boolean): Promise<Admission>;
  /** Called once per metered response that carried usage, after its last byte was forwarded. */
  record(ctx: GateContext, usage: UsageRecord): void;
}

export function modelAllowed(allow: readonly string[], model: string): boolean {
  return allow.some((entry) =>
    entry.endsWith('*') ? model.startsWith(entry.slice(0, -1)) : entry === model,
  );
}

/** Which model endpoint a request targets: `messages` is metered, `count` only checked against the allowlist. */
export function modelCall(method: string | undefined, path: string): 'messages' | 'count' | 'other' {
  const pathname = path.split('?')[0];
  if (method !== 'POST') return 'other';
  if (pathname === '/v1/messages') return 'messages';
  if (pathname === '/v1/messages/count_tokens') return 'count';
  return 'other';
}

/** The `model` of a JSON request body, or undefined when there is none. */
export function requestedModel(body: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { model?: unknown };
    return typeof parsed?.model === 'string' ? parsed.model : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a whole request body up to `max` bytes; undefined when it is larger. */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * A problem+json refusal. It also carries Anthropic's `error` member, so Messages API clients
 * (which read error.type and error.message) show the code and the reason.
 */
export function refuse(res: ServerResponse, refusal: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, title } = ERROR_CATALOGUE[refusal.code];
  const apiType =
    status === 429 ? 'rate_limit_error' : status === 403 ? 'permission_error' : 'overloaded_error';
  const body = JSON.stringify({
    type: `urn:berth:problem:${refusal.code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    code: refusal.code,
    detail: refusal.detail,
    ...(refusal.cap ? { cap: refusal.cap } : {}),
    error: { type: apiType, message: `${refusal.code}: ${refusal.detail}` },
  });
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    ...(refusal.retryAfterSeconds !== undefined ? { 'retry-after': String(refusal.retryAfterSeconds) } : {}),
    // Closing skips reading whatever body the client still sends.
    connection: 'close',
  });
  res.end(body);
}

interface PostContext {
  gate: ModelGate;
  ctx: GateContext;
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  maxBodyBytes: number;
  expectsContinue: boolean;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Asks the gate about a POST. Resolves to what to forward (`body`: read to check its model, for a
 * group with an allowlist; else the request streams through), or undefined when it was answered here.
 */
export async function admitPost(
  p: PostContext,
): Promise<{ body?: { bytes: Buffer; model: string | undefined } } | undefined> {
  const { res } = p;
  const call = modelCall('POST', p.path);
  let admission: Admission;
  try {
    admission = await p.gate.admit(p.ctx, call === 'messages');
  } catch (err) {
    p.log.warn({ sessionId: p.ctx.sessionId, err: (err as Error).message }, 'model gate failed');
    refuse(res, { code: 'MODEL_GATE_UNAVAILABLE', detail: 'berth could not check the model caps' });
    return undefined;
  }
  if (!admission.ok) return void refuse(res, admission.refusal);
  // The client gave up while the gate was asked.
  if (res.destroyed) return undefined;
  const allow = admission.allow;
  if (allow && call === 'other') {
    refuse(res, {
      code: 'MODEL_NOT_ALLOWED',
      detail: `POST ${p.path.split('?')[0]} is not forwarded for a group with a model allowlist`,
    });
    return undefined;
  }
  if (p.expectsContinue) res.writeContinue();
  if (!allow) return {};
  const bytes = await readBody(p.req, p.maxBodyBytes);
  if (!bytes) {
    fail(res, 413, 'request_too_large', `request body exceeds the ${p.maxBodyBytes}-byte limit`);
    return undefined;
  }
  const model = requestedModel(bytes);
  if (model === undefined || !modelAllowed(allow, model)) {
    const named = model === undefined ? '(none)' : JSON.stringify(model);
    refuse(res, {
      code: 'MODEL_NOT_ALLOWED',
      detail: `model ${named} is not on this group's model allowlist (${allow.join(', ')})`,
    });
    return undefined;
  }
  return { body: { bytes, model } };
}

/** Reads usage from a metered response as it passes and tells the gate once the response is over (ended or cut). */
export function meterUsage(
  upRes: IncomingMessage,
  p: {
    gate: ModelGate;
    ctx: GateContext;
    status: number;
    requestModel: string | undefined;
    log: { warn(obj: object, msg: string): void };
  },
): void {
  const meter = usageMeter(upRes.headers['content-type'], upRes.headers['content-encoding']);
  if (meter) upRes.on('data', (chunk: Buffer) => meter.push(chunk));
  upRes.once('close', () => {
    const usage = meter?.result();
    if (usage)
      p.gate.record(p.ctx, { ...usage, model: usage.model ?? p.requestModel ?? 'unknown', status: p.status });
    else if (p.status < 300)
      p.log.warn(
        { ...p.ctx, status: p.status, type: upRes.headers['content-type'] },
        'model response without readable usage',
      );
  });
}

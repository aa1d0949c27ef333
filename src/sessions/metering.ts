import type { EventLog } from '../events/event-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Admission, GateContext, ModelGate, UsageRecord } from '../proxy/model-gate.ts';
import { costMicroUsd, type PriceTable } from '../proxy/pricing.ts';
import type { Store } from '../store/db.ts';
import { addModelUsage, groupTokensOn, modelRulesOf } from '../store/usage.ts';

export interface MeterDeps {
  store: Store;
  events: EventLog;
  prices: PriceTable;
  log: { warn(obj: object, msg: string): void };
  metrics?: Metrics;
}

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The credential proxy's gate: reads the group's model rules at each call (so a changed cap applies
 * at once), saves each response's usage to the session, the group and the group's day, and appends a
 * `usage` event. tokensPerDay counts what the database holds, so it holds across instances and
 * restarts; requestsPerMinute is counted in this process.
 */
export class ModelMeter implements ModelGate {
  readonly #deps: MeterDeps;
  /** Saves in flight: a tokensPerDay check waits for them, so a finished response always counts. */
  readonly #writes = new Set<Promise<void>>();
  /** Admission times of Messages API calls in the last minute, per group. */
  readonly #recent = new Map<string, number[]>();

  constructor(deps: MeterDeps) {
    this.#deps = deps;
  }

  async admit(ctx: GateContext, counted: boolean): Promise<Admission> {
    const { db } = this.#deps.store;
    const found = await modelRulesOf(db, ctx.sessionId);
    if (!found)
      return {
        ok: false,
        refusal: { code: 'MODEL_GATE_UNAVAILABLE', detail: `session ${ctx.sessionId} no longer exists` },
      };
    const rules = found.rules ?? {};
    if (counted && rules.tokensPerDay !== undefined) {
      await Promise.all(this.#writes);
      const now = Date.now();
      const used = await groupTokensOn(db, found.groupId, utcDay(now));
      if (used >= rules.tokensPerDay) {
        return {
          ok: false,
          refusal: {
            code: 'MODEL_CAP_EXCEEDED',
            detail: `group ${found.groupId} used ${used} tokens today (UTC); its tokensPerDay cap is ${rules.tokensPerDay}`,
            cap: { name: 'tokensPerDay', limit: rules.tokensPerDay, used },
            retryAfterSeconds: Math.ceil((DAY - (now % DAY)) / 1000),
          },
        };
      }
    }
    if (counted && rules.requestsPerMinute !== undefined) {
      const now = Date.now();
      const recent = (this.#recent.get(found.groupId) ?? []).filter((t) => t > now - MINUTE);
      if (recent.length >= rules.requestsPerMinute) {
        this.#recent.set(found.groupId, recent);
        return {
          ok: false,
          refusal: {
            code: 'MODEL_CAP_EXCEEDED',
            detail: `group ${found.groupId} made ${recent.length} model requests in the last minute; its requestsPerMinute cap is ${rules.requestsPerMinute}`,
            cap: { name: 'requestsPerMinute', limit: rules.requestsPerMinute, used: recent.length },
            retryAfterSeconds: Math.max(1, Math.ceil(((recent[0] ?? now) + MINUTE - now) / 1000)),
          },
        };
      }
      recent.push(now);
      this.#recent.set(found.groupId, recent);
    }
    return { ok: true, allow: rules.allow };
  }

  record(ctx: GateContext, usage: UsageRecord): void {
    const cost = costMicroUsd(this.#deps.prices, usage.model, usage);
    const write = this.#save(ctx, usage, cost)
      .catch((err: Error) =>
        this.#deps.log.warn({ err: err.message, sessionId: ctx.sessionId }, 'saving model usage failed'),
      )
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  async #save(ctx: GateContext, usage: UsageRecord, cost: number): Promise<void> {
    const saved = await addModelUsage(this.#deps.store.db, ctx.sessionId, utcDay(Date.now()), {
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      cacheCreationTokens: usage.cacheCreationInputTokens,
      cacheReadTokens: usage.cacheReadInputTokens,
      costMicroUsd: cost,
    });
    if (!saved) return;
    const m = this.#deps.metrics;
    m?.modelTokens(saved.groupId, 'input', usage.inputTokens);
    m?.modelTokens(saved.groupId, 'output', usage.outputTokens);
    m?.modelTokens(saved.groupId, 'cache_creation', usage.cacheCreationInputTokens);
    m?.modelTokens(saved.groupId, 'cache_read', usage.cacheReadInputTokens);
    await this.#deps.events.append(ctx.sessionId, {
      kind: 'lifecycle',
      ...(ctx.generation !== undefined ? { generation: ctx.generation } : {}),
      data: {
        type: 'usage',
        model: usage.model,
        status: usage.status,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        cacheCreationInputTokens: usage.cacheCreationInputTokens,
        cacheReadInputTokens: usage.cacheReadInputTokens,
        costUsd: cost / 1e6,
      },
    });
  }
}

import type { ModelPrice } from '../config.ts';

export type { ModelPrice };

/** Model name (or name prefix) → price; `*` is the fallback for models not listed. */
export type PriceTable = Record<string, ModelPrice>;

/** The tokens of one model response, as the Messages API reports them. */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

const price = (input: number, output: number): ModelPrice => ({
  input,
  output,
  cacheWrite: input * 1.25,
  cacheRead: input / 10,
});

/** Anthropic's list prices; the fallback is the most expensive model, so unknown models are never under-estimated. */
export const DEFAULT_PRICES: PriceTable = {
  'claude-opus-4-5': price(5, 25),
  'claude-opus-4-1': price(15, 75),
  'claude-opus-4': price(15, 75),
  'claude-sonnet-4-5': price(3, 15),
  'claude-sonnet-4': price(3, 15),
  'claude-3-7-sonnet': price(3, 15),
  'claude-haiku-4-5': price(1, 5),
  'claude-3-5-haiku': price(0.8, 4),
  'claude-3-haiku': price(0.25, 1.25),
  '*': price(15, 75),
};

/**
 * The price of a model: an exact key, else the longest key that is a prefix of the name ending at a
 * `-` or `@` (dated ids such as claude-sonnet-4-5-20250929 or claude-sonnet-4-5@20250929), else `*`.
 */
export function priceOf(table: PriceTable, model: string): ModelPrice {
  const exact = table[model];
  if (exact) return exact;
  let best: string | undefined;
  for (const key of Object.keys(table)) {
    if (key === '*' || !model.startsWith(key)) continue;
    const next = model[key.length];
    if ((next === '-' || next === '@') && (!best || key.length > best.length)) best = key;
  }
  return table[best ?? '*'] ?? DEFAULT_PRICES['*']!;
}

/** Estimated cost in micro-USD (integers add up without drift). */
export function costMicroUsd(table: PriceTable, model: string, usage: TokenUsage): number {
  const p = priceOf(table, model);
  // Price per million tokens × tokens / 1e6 USD = price × tokens micro-USD.
  return Math.round(
    p.input * usage.inputTokens +
      p.output * usage.outputTokens +
      p.cacheWrite * usage.cacheCreationInputTokens +
      p.cacheRead * usage.cacheReadInputTokens,
  );
}

/** The defaults with the operator's prices laid over them. */
export function priceTable(configured: PriceTable): PriceTable {
  return { ...DEFAULT_PRICES, ...configured };
}

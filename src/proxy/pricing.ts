/** USD per million tokens of each kind. */
export interface ModelPrice {
  input: number;
  output: number;
  /** Prompt-cache writes (the 5-minute rate, 1.25 × input). */
  cacheWrite: number;
  cacheRead: number;
}

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

const FIELDS = ['input', 'output', 'cacheWrite', 'cacheRead'] as const;

/**
 * Parses BERTH_MODEL_PRICES: a JSON object of model → {input, output, cacheWrite?, cacheRead?}
 * (USD per million tokens), laid over the defaults. Returns the table or a reason.
 */
export function parsePriceTable(raw: string): PriceTable | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'must be a JSON object of model → {input, output, cacheWrite?, cacheRead?}';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    return 'must be a JSON object of model → {input, output, cacheWrite?, cacheRead?}';
  const table: PriceTable = { ...DEFAULT_PRICES };
  for (const [model, value] of Object.entries(parsed)) {
    if (!/^(\*|[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199})$/.test(model)) return `"${model}" is not a model name`;
    const v = value as Record<string, unknown>;
    if (typeof v !== 'object' || v === null) return `"${model}" must map to an object`;
    const unknownField = Object.keys(v).find((k) => !(FIELDS as readonly string[]).includes(k));
    if (unknownField) return `"${model}".${unknownField} is not a price field (${FIELDS.join(', ')})`;
    for (const field of FIELDS) {
      const n = v[field];
      if (n === undefined && (field === 'cacheWrite' || field === 'cacheRead')) continue;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1_000_000)
        return `"${model}".${field} must be a number of USD per million tokens`;
    }
    const base = price(v.input as number, v.output as number);
    table[model] = {
      ...base,
      ...(v.cacheWrite !== undefined ? { cacheWrite: v.cacheWrite as number } : {}),
      ...(v.cacheRead !== undefined ? { cacheRead: v.cacheRead as number } : {}),
    };
  }
  return table;
}

import { ConfigError } from './parse.ts';

/** USD per million tokens of each kind; cache writes default to 1.25 × input, cache reads to 0.1 × input. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

const PRICE_FIELDS = ['input', 'output', 'cacheWrite', 'cacheRead'] as const;

export function parsePrices(raw: string | undefined): Record<string, ModelPrice> {
  if (raw === undefined || raw === '') return {};
  const shape = 'must be a JSON object of model → {input, output, cacheWrite?, cacheRead?}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`BERTH_MODEL_PRICES ${shape}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(`BERTH_MODEL_PRICES ${shape}`);
  const out: Record<string, ModelPrice> = {};
  for (const [model, v] of Object.entries(parsed as Record<string, Record<string, unknown>>)) {
    const where = `BERTH_MODEL_PRICES "${model}"`;
    if (!/^(\*|[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199})$/.test(model))
      throw new ConfigError(`${where} is not a model name`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where} ${shape}`);
    const extra = Object.keys(v).find((k) => !(PRICE_FIELDS as readonly string[]).includes(k));
    if (extra) throw new ConfigError(`${where}.${extra} is not a price field (${PRICE_FIELDS.join(', ')})`);
    const input = v.input as number;
    const price = { cacheWrite: input * 1.25, cacheRead: input / 10, ...v } as ModelPrice;
    for (const field of PRICE_FIELDS) {
      const n = price[field];
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1_000_000)
        throw new ConfigError(`${where}.${field} must be a number of USD per million tokens`);
    }
    out[model] = price;
  }
  return out;
}

/** One benchmark figure next to its baseline measured in the same run. */
export interface BenchRow {
  name: string;
  berth: number;
  baseline: number;
  unit: string;
  /** What the baseline is, e.g. "raw podman run -i". */
  baselineName: string;
  /** true when a bigger number is better (throughput); false for latencies. */
  higherIsBetter: boolean;
  note?: string;
}

export interface BenchOptions {
  /** A short bounded run for CI so the suite cannot rot; numbers are not meaningful. */
  smoke: boolean;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

/** The columns of the printed table, and of the README's. */
export const BENCH_COLUMNS = ['benchmark', 'berth', 'baseline', 'unit', 'ratio', 'baseline is'];

const fmt = (n: number): string =>
  Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2)) : 'n/a';

export function formatTable(rows: BenchRow[]): string {
  const header = BENCH_COLUMNS;
  const body = rows.map((r) => [
    r.name,
    fmt(r.berth),
    fmt(r.baseline),
    r.unit,
    Number.isFinite(r.berth / r.baseline) ? `${(r.berth / r.baseline).toFixed(2)}x` : 'n/a',
    r.baselineName + (r.note ? ` (${r.note})` : ''),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

export const README_START = '<!-- bench-table -->';
export const README_END = '<!-- /bench-table -->';

/** The README with the text between its bench-table markers replaced by `block`. */
export function withBenchBlock(readme: string, block: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start)
    throw new Error(`README.md lacks the ${README_START} … ${README_END} markers`);
  return `${readme.slice(0, start + README_START.length)}\n${block}\n${readme.slice(end)}`;
}

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const src = path.resolve(import.meta.dirname, '../../src');
const recipe = path.resolve(import.meta.dirname, '../../container/image');

/**
 * Dependencies point one way: http → sessions|schedules|images → runtime|proxy|mounts|files|protocol → events → store.
 * The wiring files (main, server, app) may import anything; config, errors, logger and metrics are importable by every
 * folder except runtime and protocol, which import nothing of berth's outside their own folder.
 * cli (the `berth` command) is a client on top: it sees the service only through its HTTP contract.
 */
const LEVEL: Record<string, number> = {
  cli: 6,
  http: 5,
  sessions: 4,
  schedules: 4,
  images: 4,
  runtime: 3,
  proxy: 3,
  mounts: 3,
  files: 3,
  protocol: 3,
  events: 2,
  store: 1,
};
const WIRING = new Set(['main.ts', 'server.ts', 'app.ts']);
const SHARED = new Set(['config.ts', 'config', 'errors.ts', 'logger.ts', 'metrics.ts']);
const SEALED = new Set(['runtime', 'protocol']);
/** All the CLI may import of berth's outside src/cli: the generated API types and the names of its variables. */
const CLI_ALLOWED = new Set(['http/api.d.ts', 'config/cli-env.ts'].map((f) => path.join(src, f)));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

/** The top folder (or root file name) of a path under src/. */
const unit = (file: string) => path.relative(src, file).split(path.sep)[0]!;

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return found.map((spec) => path.resolve(path.dirname(file), spec));
}

function violation(from: string, to: string): string | undefined {
  const a = unit(from);
  const b = unit(to);
  // The agent image recipe lives with the container it builds; only src/images builds it.
  if (!to.startsWith(src))
    return a === 'images' && to.startsWith(recipe) ? undefined : `${a} reaches outside src/`;
  if (a === b || WIRING.has(a)) return undefined;
  if (a === 'cli')
    return CLI_ALLOWED.has(to)
      ? undefined
      : `cli imports ${path.relative(src, to)} (only its own files and the API types)`;
  if (WIRING.has(b)) return `${a} imports the wiring file ${b}`;
  if (SEALED.has(a)) return `${a} must import nothing of berth's outside src/${a}`;
  if (SHARED.has(b)) return undefined;
  if (SHARED.has(a))
    return SHARED.has(b) || (a === 'config.ts' && b === 'runtime') ? undefined : `${a} imports ${b}`;
  const la = LEVEL[a];
  const lb = LEVEL[b];
  if (la === undefined || lb === undefined) return `unknown folder ${la === undefined ? a : b}`;
  return lb < la ? undefined : `${a} (level ${la}) imports ${b} (level ${lb})`;
}

describe('source layout', () => {
  it('has only the documented folders and root files', () => {
    const entries = readdirSync(src).sort();
    expect(entries).toEqual(
      [...Object.keys(LEVEL), ...WIRING, ...SHARED]
        .filter((e) => entries.includes(e) || e !== 'logger.ts')
        .sort(),
    );
  });

  it('points every import one way', () => {
    const problems = files(src).flatMap((file) =>
      imports(file)
        .map((target) => violation(file, target))
        .filter((v): v is string => v !== undefined)
        .map((v) => `${path.relative(src, file)}: ${v}`),
    );
    expect(problems).toEqual([]);
  });

  it('keeps every source file under 300 lines', () => {
    const long = files(src)
      .filter((f) => !f.endsWith('.d.ts'))
      .map((f) => [path.relative(src, f), readFileSync(f, 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines > 300);
    expect(long).toEqual([]);
  });
});

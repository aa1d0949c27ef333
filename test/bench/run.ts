import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { createRuntime } from '../../src/runtime/index.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimeAnswers } from '../support/runtimes.ts';
import { benchHttp } from './http.ts';
import { benchProxy } from './proxy.ts';
import { benchRuntime } from './runtime.ts';
import {
  type BenchRuntime,
  removeRawLeftovers,
  runtimeVersion,
  startBerth,
  startDatabase,
} from './support.ts';
import { type BenchOptions, type BenchRow, formatTable, withBenchBlock } from './table.ts';

function pickRuntime(argv: string[]): BenchRuntime {
  const i = argv.indexOf('--runtime');
  const wanted = i >= 0 ? argv[i + 1] : undefined;
  if (wanted !== undefined) {
    if (wanted !== 'podman' && wanted !== 'docker') throw new Error('--runtime must be podman or docker');
    return wanted;
  }
  if (runtimeAnswers('podman')) return 'podman';
  if (runtimeAnswers('docker')) return 'docker';
  throw new Error('neither podman nor docker answers `version`');
}

/** The stream bench is optional: included when its module exists and exports benchStream. */
async function streamRows(opts: BenchOptions): Promise<BenchRow[]> {
  const file = fileURLToPath(new URL('./stream.ts', import.meta.url));
  if (!existsSync(file)) return [];
  const mod = (await import(file)) as { benchStream?: (o: BenchOptions) => Promise<BenchRow[]> };
  return mod.benchStream ? mod.benchStream(opts) : [];
}

const args = process.argv.slice(2);
const opts: BenchOptions = { smoke: args.includes('--smoke') };
const writeReadme = args.includes('--readme');
const profIndex = args.indexOf('--cpu-prof');
const cpuProfDir = profIndex >= 0 ? args[profIndex + 1] : undefined;
const runtimeName = pickRuntime(args);
const runtime = createRuntime(runtimeName);
const image = await ensureAgentImage(runtimeName);
const db = await startDatabase();
const rows: BenchRow[] = [];
let database = db.kind as string;
try {
  const berth = await startBerth(runtimeName, image, db.url, cpuProfDir);
  database = berth.database;
  try {
    const idleRssMb = (await berth.memory()).rssMb;
    rows.push(...(await benchRuntime(opts, { berth, runtime, image, idleRssMb })));
    rows.push(...(await benchHttp(opts, berth)));
  } finally {
    await berth.close();
    await removeRawLeftovers(runtime);
  }
  rows.push(...(await benchProxy(opts)));
  rows.push(...(await streamRows(opts)));
} finally {
  await db.close();
}

const npmScript = process.env.npm_lifecycle_event;
// Arguments after `--`: those the npm script itself does not pass.
const own = (process.env.npm_lifecycle_script ?? '').split(/\s+/);
const extra = args.filter((a) => !own.includes(a));
const command = npmScript
  ? `npm run ${npmScript}${extra.length ? ` -- ${extra.join(' ')}` : ''}`
  : `tsx test/bench/run.ts ${args.join(' ')}`.trim();
const cpu = os.cpus();
const header = [
  `machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GB RAM, ${os.type()}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the end`,
  `runtime: ${runtimeName} ${runtimeVersion(runtimeName)}; database: ${database}; node ${process.version}`,
  `command: ${command}${opts.smoke ? ' (smoke: numbers are not meaningful)' : ''}`,
];
const table = formatTable(rows);
console.log([...header, '', table].join('\n'));
if (writeReadme) {
  const readme = fileURLToPath(new URL('../../README.md', import.meta.url));
  const block = [...header.map((l) => `${l}  `), '', table].join('\n');
  writeFileSync(readme, withBenchBlock(readFileSync(readme, 'utf8'), block));
  console.log('README.md: bench table rewritten');
}

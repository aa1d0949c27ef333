import { existsSync } from 'node:fs';
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
  rssMb,
  runtimeVersion,
  startBerth,
  startDatabase,
} from './support.ts';
import { type BenchOptions, type BenchRow, formatTable } from './table.ts';

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

const opts: BenchOptions = { smoke: process.argv.includes('--smoke') };
const runtimeName = pickRuntime(process.argv);
const runtime = createRuntime(runtimeName);
const image = await ensureAgentImage(runtimeName);
const db = await startDatabase();
const rows: BenchRow[] = [];
try {
  const berth = await startBerth(runtimeName, image, db.url);
  try {
    const idleRssMb = rssMb(process.pid);
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

console.log(
  `machine: ${os.cpus().length} cores, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GB, ` +
    `${runtimeName} ${runtimeVersion(runtimeName)}, database ${db.kind}, node ${process.version}` +
    (opts.smoke ? ' (smoke: numbers are not meaningful)' : ''),
);
console.log(formatTable(rows));

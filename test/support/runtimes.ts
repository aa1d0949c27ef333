import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { needs } from './needs.ts';

export type TestRuntime = 'podman' | 'docker';

/** Whether the runtime's CLI answers `version` (and so its engine is up). */
export function runtimeAnswers(runtime: TestRuntime): boolean {
  try {
    execFileSync(runtime, ['version'], { stdio: 'pipe', timeout: 15_000 });
    return true;
  } catch {
    return false;
  }
}

const cache = new Map<TestRuntime, boolean>();

/**
 * Container runtimes the suite runs against. In CI every runtime is required: a missing one fails
 * loudly instead of skipping. Outside CI, missing runtimes are skipped with a warning.
 * `TEST_RUNTIMES=podman` narrows the list.
 */
export function runtimesUnderTest(): TestRuntime[] {
  const wanted = (process.env.TEST_RUNTIMES ?? 'podman,docker')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as TestRuntime[];
  const out: TestRuntime[] = [];
  for (const runtime of wanted) {
    if (!cache.has(runtime)) cache.set(runtime, runtimeAnswers(runtime));
    const hint = `\`${runtime} version\` must answer (apt-get install ${runtime === 'docker' ? 'docker.io' : runtime})`;
    if (needs(runtime, cache.get(runtime)!, hint)) out.push(runtime);
  }
  return out;
}

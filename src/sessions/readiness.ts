import type { ContainerRuntime } from '../runtime/index.ts';
import type { Check } from './control.ts';
import type { Launcher } from './launcher.ts';

export type RunnerReadiness = { runtime: Check; image: Check; proxy: Check; network: Check };

/** What the session side reports to /readyz: runtime, agent image, credential proxy and network policy. */
export async function runnerReadiness(
  runtime: ContainerRuntime | undefined,
  runtimeProblem: string | undefined,
  launcher: Launcher,
  image: string,
): Promise<RunnerReadiness> {
  const proxy = launcher.proxyCheck();
  const network = launcher.networkCheck();
  if (!runtime) {
    const detail = runtimeProblem ?? 'no container runtime';
    return { runtime: { ok: false, detail }, image: { ok: false, detail: 'no runtime' }, proxy, network };
  }
  // A runtime that cannot say its version is still usable; readiness shows '?' rather than failing.
  const version = await runtime.version().catch(() => '?');
  return {
    runtime: { ok: true, detail: `${runtime.name} ${version}` },
    image: await launcher.imageCheck(runtime, image),
    proxy,
    network,
  };
}

import type { ContainerRuntime } from '../runtime/index.ts';
import type { Check } from './control.ts';
import type { Launcher } from './launcher.ts';

export type RunnerReadiness = {
  runtime: Check;
  image: Check;
  proxy: Check;
  network: Check;
  modelCredential: Check;
};

/** What the session side reports to /readyz: runtime, agent image, credential proxy, network policy, model credential. */
export async function runnerReadiness(
  runtime: ContainerRuntime | undefined,
  runtimeProblem: string | undefined,
  launcher: Launcher,
  image: string,
  modelCredential: Check,
): Promise<RunnerReadiness> {
  const proxy = launcher.proxyCheck();
  const network = launcher.networkCheck();
  if (!runtime) {
    const detail = runtimeProblem ?? 'no container runtime';
    const noImage = { ok: false, detail: 'no runtime' };
    return { runtime: { ok: false, detail }, image: noImage, proxy, network, modelCredential };
  }
  // A runtime that cannot say its version is still usable; readiness shows '?' rather than failing.
  const version = await runtime.version().catch(() => '?');
  return {
    runtime: { ok: true, detail: `${runtime.name} ${version}` },
    image: await launcher.imageCheck(runtime, image),
    proxy,
    network,
    modelCredential,
  };
}

import { type ContainerRuntime, oomKillCount } from '../runtime/index.ts';
import type { ExitReason } from '../store/sessions.ts';

export interface ExitVerdict {
  reason: ExitReason;
  exitCode: number | null;
  detail: string | undefined;
  /** The engine stopped answering: the container was lost with it. */
  runtimeGone: boolean;
}

/**
 * Why a run ended, from berth's own stop reason, the engine's inspect and the kernel's OOM count.
 * Inspect runs before the container is removed (no `--rm`), so OOMKilled is still there to read.
 */
export async function classifyExit(
  runtime: ContainerRuntime,
  run: { containerName: string; stopReason: ExitReason | undefined },
  cliExitCode: number | null,
  oomKillsAtStart: number | undefined,
): Promise<ExitVerdict> {
  let detail: string | undefined;
  let runtimeGone = false;
  const state = await runtime.inspect(run.containerName).catch(async (err: Error) => {
    // The engine itself is gone (a daemon restart): the container went with it, whatever the CLI's exit code.
    runtimeGone = await runtime.version().then(
      () => false,
      () => true,
    );
    detail = runtimeGone
      ? `${runtime.name} stopped answering; the container was lost with it`
      : `inspect failed: ${err.message}`;
    return undefined;
  });
  const exitCode = state?.exitCode ?? cliExitCode;
  // podman on cgroups v1 never sets OOMKilled: 137 under a memory limit that berth did not cause is
  // the OOM killer only if the kernel counted an OOM kill meanwhile (otherwise: killed from outside).
  const kernelSawOom =
    oomKillsAtStart === undefined || (oomKillCount() ?? oomKillsAtStart + 1) > oomKillsAtStart;
  const oom =
    state?.oomKilled || (state?.oomSuspected === true && run.stopReason === undefined && kernelSawOom);
  const reason: ExitReason = run.stopReason ?? (oom ? 'oom' : runtimeGone ? 'lost' : 'exited');
  if (reason === 'exited' && exitCode === 137 && run.stopReason === undefined)
    detail ??= 'killed (SIGKILL) from outside berth';
  return { reason, exitCode, detail, runtimeGone };
}

import type { ContainerState } from './types.ts';

export function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

export function str(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
}

export function parseJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  try {
    return JSON.parse(trimmed);
  } catch {
    // Callers read unparsable CLI output as no data and fall back to their "missing" answer.
    return undefined;
  }
}

/** docker prints one JSON object per line for `--format '{{json .}}'`. */
export function parseJsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .map((line) => parseJson(line))
    .filter((v): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v));
}

/** docker's "k=v,k=v"; a piece without "=" belongs to the previous value (label values may hold commas). */
export function parseLabelString(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last: string | undefined;
  for (const piece of text === '' ? [] : text.split(',')) {
    const eq = piece.indexOf('=');
    if (eq > 0) {
      last = piece.slice(0, eq);
      out[last] = piece.slice(eq + 1);
    } else if (last !== undefined) {
      out[last] += `,${piece}`;
    }
  }
  return out;
}

function time(value: unknown): string | undefined {
  const s = str(value);
  return s === '' || s.startsWith('0001-01-01') ? undefined : s;
}

/** docker and podman `inspect` share State's field names. */
export function pickState(
  state: Record<string, unknown>,
  labels: Record<string, unknown>,
  memoryLimited: boolean,
): ContainerState {
  const running = state.Running === true;
  const status = str(state.Status);
  const exited = !running && status !== 'created' && status !== 'configured' && status !== '';
  const exitCode = exited && typeof state.ExitCode === 'number' ? state.ExitCode : null;
  const oomKilled = state.OOMKilled === true;
  const startedAt = time(state.StartedAt);
  const finishedAt = exited ? time(state.FinishedAt) : undefined;
  return {
    exists: true,
    running,
    exitCode,
    oomKilled,
    oomSuspected: !oomKilled && exitCode === 137 && memoryLimited,
    ...(startedAt ? { startedAt } : {}),
    ...(finishedAt ? { finishedAt } : {}),
    labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, str(v)])),
  };
}

export function missingState(): ContainerState {
  return { exists: false, running: false, exitCode: null, oomKilled: false, oomSuspected: false, labels: {} };
}

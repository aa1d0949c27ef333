import process from 'node:process';

// Free of vitest imports: the global setup and the benchmarks use this too.

export const inCi = process.env.CI === 'true' || process.env.CI === '1';

/**
 * The one convention for "this machine lacks X": in CI a missing tool fails the run; elsewhere it
 * prints a loud warning and returns false so the caller skips the tests that need it.
 */
export function needs(what: string, present: boolean, install: string): boolean {
  if (present) return true;
  if (inCi) throw new Error(`${what} is required in CI but missing on this machine: ${install}`);
  console.warn(`\n*** SKIPPING tests that need ${what}: missing on this machine (${install}) ***\n`);
  return false;
}

import { setTimeout as sleep } from 'node:timers/promises';
import { isDatabaseUnavailable } from './sql-errors.ts';

export interface RetryLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/**
 * Runs a write that must not be lost, again and again while the database is unavailable (backing
 * off to 2 s). Other errors are thrown at once; so is the last error once `stop()` says to give up.
 */
export async function retryWhileUnavailable<T>(
  what: string,
  work: () => Promise<T>,
  opts: { log: RetryLog; stop?: () => boolean; context?: object; unavailable?: () => void },
): Promise<T> {
  let delay = 100;
  let failures = 0;
  for (;;) {
    try {
      const result = await work();
      if (failures > 0)
        opts.log.info({ ...opts.context, failures }, `${what}: done after the database came back`);
      return result;
    } catch (err) {
      if (!isDatabaseUnavailable(err) || opts.stop?.()) throw err;
      opts.unavailable?.();
      if (failures++ === 0)
        opts.log.warn({ err, ...opts.context }, `${what}: database unavailable, retrying`);
      await sleep(delay);
      delay = Math.min(2000, delay * 2);
    }
  }
}

/** Rejects with a database-unavailable error when `work` takes longer than `ms`. */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          Object.assign(new Error(`the database did not answer within ${ms} ms`), {
            code: 'DATABASE_TIMEOUT',
          }),
        ),
      ms,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

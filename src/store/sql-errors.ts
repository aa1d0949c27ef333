/** Both drivers surface PostgreSQL's SQLSTATE as `code`, sometimes on a wrapped `cause`. */
function sqlState(err: unknown): string | undefined {
  for (
    let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0;
    e && i < 4;
    e = e.cause as never, i++
  ) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

export const isUniqueViolation = (err: unknown): boolean => sqlState(err) === '23505';
export const isNotNullViolation = (err: unknown): boolean => sqlState(err) === '23502';
export const isForeignKeyViolation = (err: unknown): boolean => sqlState(err) === '23503';
/** PostgreSQL cannot store U+0000 in text (22021) or jsonb (22P05). */
export const isNulInText = (err: unknown): boolean => ['22021', '22P05'].includes(sqlState(err) ?? '');

// Errors that say the database is out of reach or out of room for now, not that the request is wrong.
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'DATABASE_TIMEOUT',
]);

/** True when retrying later may succeed: connection loss, shutdown/startup, out of disk or memory. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state) return /^(08|53|57P0[1-3]|58)/.test(state);
  for (
    let e = err as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined, i = 0;
    e && i < 4;
    e = e.cause as never, i++
  ) {
    if (typeof e.code === 'string' && UNREACHABLE.has(e.code)) return true;
    // Node reports a refused connection to every address of a host as an AggregateError.
    if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x))) return true;
  }
  return false;
}

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
export const isForeignKeyViolation = (err: unknown): boolean => sqlState(err) === '23503';
/** PostgreSQL cannot store U+0000 in text (22021) or jsonb (22P05). */
export const isNulInText = (err: unknown): boolean => ['22021', '22P05'].includes(sqlState(err) ?? '');

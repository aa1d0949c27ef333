import { randomBytes } from 'node:crypto';

/** Time-ordered ids (`grp_0mf3k2x9a7q4h8c2v1`): sorting by id sorts by creation, which makes cursors simple. */
export function newId(prefix: string): string {
  const time = Date.now().toString(36).padStart(9, '0');
  const rand = randomBytes(8).toString('hex').slice(0, 12);
  return `${prefix}_${time}${rand}`;
}

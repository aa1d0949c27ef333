import { describe, expect, it } from 'vitest';
import { dueTicks, firstRun, parseTrigger } from '../../src/schedules/timing.ts';

const berlin = (cron: string) => parseTrigger({ cron }, 'Europe/Berlin', new Date('2026-01-01T00:00:00Z'));

/** The next `n` planned times after `from`, as the scheduler walks them (each tick's successor). */
function walk(trigger: ReturnType<typeof berlin>, from: string, n: number): string[] {
  const out = [firstRun(trigger, new Date(from))];
  while (out.length < n) out.push(dueTicks(trigger, out.at(-1)!, out.at(-1)!).next!);
  return out.map((d) => d.toISOString());
}

describe('schedule timing across DST (Europe/Berlin, croner rules)', () => {
  it('runs a fixed time the clock skips right after the gap, on that day', () => {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
    expect(walk(berlin('30 2 * * *'), '2026-03-28T00:00:00Z', 3)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-29T01:00:00.000Z',
      '2026-03-30T00:30:00.000Z',
    ]);
  });

  it('runs a fixed time the clock repeats once', () => {
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    expect(walk(berlin('30 2 * * *'), '2026-10-24T12:00:00Z', 2)).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('runs a stepped pattern in both repeats of the hour', () => {
    expect(walk(berlin('*/30 2 * * *'), '2026-10-24T22:00:00Z', 4)).toEqual([
      '2026-10-25T00:00:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
    ]);
  });
});

describe('due ticks', () => {
  const now = new Date('2026-05-01T12:00:00Z');

  it('fires the latest interval tick not after now and plans the next on the same grid', () => {
    const every = parseTrigger({ everyMs: 60_000 }, 'UTC', now);
    const { latest, next } = dueTicks(every, new Date('2026-05-01T11:55:30Z'), now);
    expect([latest.toISOString(), next?.toISOString()]).toEqual([
      '2026-05-01T11:59:30.000Z',
      '2026-05-01T12:00:30.000Z',
    ]);
  });

  it('counts a cron tick exactly at now as due', () => {
    const hourly = parseTrigger({ cron: '0 * * * *' }, 'UTC', now);
    const { latest, next } = dueTicks(hourly, new Date('2026-05-01T09:00:00Z'), now);
    expect([latest.toISOString(), next?.toISOString()]).toEqual([
      '2026-05-01T12:00:00.000Z',
      '2026-05-01T13:00:00.000Z',
    ]);
  });

  it('has no next tick for a one-off', () => {
    const once = parseTrigger({ at: '2026-05-01T12:30:00Z' }, 'UTC', now);
    expect(dueTicks(once, once.at!, new Date('2026-05-01T12:30:01Z')).next).toBeNull();
  });
});

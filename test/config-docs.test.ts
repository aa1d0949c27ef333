import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configTable, README, withConfigTable } from '../scripts/config-docs.ts';
import { fields } from '../src/config.ts';

describe('README configuration table', () => {
  it('is the one generated from src/config.ts (run `npm run docs:config` after changing a setting)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(withConfigTable(readme)).toBe(readme);
  });

  it('has one row per setting, defaults included', () => {
    const rows = configTable().split('\n').slice(2);
    expect(rows.map((row) => row.split(' | ')[0])).toEqual(fields.map((f) => `| \`${f.env}\``));
    expect(rows).toContain('| `BERTH_PORT` | `3000` | HTTP port (0 picks a free one). |');
    expect(rows.find((row) => row.startsWith('| `DATABASE_URL`'))).toContain('`(unset)`');
  });
});

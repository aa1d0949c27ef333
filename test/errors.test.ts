import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../src/errors.ts';
import { loadSpec } from '../src/http/spec.ts';

const src = path.resolve(import.meta.dirname, '../src');
const sources = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [path.join(dir, e.name)]
        : [],
  );

describe('error catalogue', () => {
  it("is exactly openapi.yaml's Problem code enum", () => {
    const spec = loadSpec() as {
      components: { schemas: { Problem: { properties: { code: { enum: string[] } } } } };
    };
    const documented = spec.components.schemas.Problem.properties.code.enum;
    expect([...documented].sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  it('gives every code an error status and a title', () => {
    for (const [code, { status, title }] of Object.entries(ERROR_CATALOGUE)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
      expect(title.length).toBeGreaterThan(0);
    }
  });

  it('is the only place codes are defined: no error class carries its own code string', () => {
    const adHoc = sources(src).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/readonly code = '|super\('[A-Z_]+', \d{3}/g)].map(() =>
        path.relative(src, file),
      ),
    );
    expect(adHoc).toEqual([]);
  });
});

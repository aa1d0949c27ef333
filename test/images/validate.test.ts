import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { baseKindOf, containerfile, imageTag } from '../../src/images/containerfile.ts';
import { validatePackages } from '../../src/images/validate.ts';

function rejected(input: { apt?: string[]; npm?: string[] }): ValidationError {
  try {
    validatePackages(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error(`accepted ${JSON.stringify(input)}`);
}

describe('package validation', () => {
  const hostile = [
    '--privileged',
    'foo; rm -rf /',
    '$(id)',
    'a b',
    '../x',
    'http://x',
    'x'.repeat(300),
    'git+ssh://git@github.com/x/y.git',
    'file:../x',
    '',
    'a\nb',
  ];

  it.each(hostile)('refuses %j as an apt name', (name) => {
    const err = rejected({ apt: [name] });
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.extra.errors).toEqual([expect.objectContaining({ path: 'body/apt/0' })]);
  });

  it.each([...hostile, 'pkg@latest', 'pkg@^1.0.0', 'pkg@~1.2.0', 'pkg@1.x', 'pkg@>=1.0.0', '@scope', 'Pkg'])(
    'refuses %j as an npm name',
    (name) => {
      const err = rejected({ npm: [name] });
      expect(err.extra.errors).toEqual([expect.objectContaining({ path: 'body/npm/0' })]);
    },
  );

  it('lists each bad name', () => {
    const err = rejected({ apt: ['curl', '--privileged'], npm: ['$(id)', 'is-number', 'pkg@latest'] });
    expect((err.extra.errors as Array<{ path: string }>).map((e) => e.path)).toEqual([
      'body/apt/1',
      'body/npm/0',
      'body/npm/2',
    ]);
    expect(err.message).toContain('--privileged');
  });

  it('refuses empty lists and more than 32 entries', () => {
    expect(rejected({}).extra.errors).toEqual([expect.objectContaining({ code: 'empty' })]);
    expect(rejected({ apt: [], npm: [] }).code).toBe('VALIDATION_FAILED');
    const many = Array.from({ length: 33 }, (_, i) => `pkg${i}`);
    expect(rejected({ npm: many }).extra.errors).toEqual([expect.objectContaining({ code: 'maxItems' })]);
  });

  it('accepts plain, scoped and exactly versioned names, sorted and de-duplicated', () => {
    expect(
      validatePackages({
        apt: ['python3', 'g++', 'libc6-dev', 'ca-certificates', 'python3'],
        npm: ['is-number@7.0.0', '@types/node', '@scope/pkg@1.2.3-beta.1+build.5', 'lodash'],
      }),
    ).toEqual({
      apt: ['ca-certificates', 'g++', 'libc6-dev', 'python3'],
      npm: ['@scope/pkg@1.2.3-beta.1+build.5', '@types/node', 'is-number@7.0.0', 'lodash'],
    });
  });
});

describe('derived image Containerfile', () => {
  it('installs apt and npm packages as root on a registry base, then drops back to uid 1000', () => {
    expect(
      containerfile('berth-agent:latest', 'registry', { apt: ['curl', 'jq'], npm: ['is-number@7.0.0'] }),
    ).toBe(`FROM berth-agent:latest
USER root
RUN apt-get update && apt-get install -y --no-install-recommends curl jq && rm -rf /var/lib/apt/lists/*
RUN npm install -g is-number@7.0.0
USER 1000:1000
`);
    expect(containerfile('b:1', 'registry', { apt: [], npm: ['x'] })).not.toContain('apt-get');
    expect(containerfile('b:1', 'registry', { apt: ['x1'], npm: [] })).not.toContain('npm install');
  });

  it('copies host-installed npm packages into an offline base and runs nothing inside it', () => {
    const text = containerfile('berth-agent:test', 'offline', { apt: [], npm: ['is-number@7.0.0'] });
    expect(text).toBe(`FROM berth-agent:test
COPY npm/node_modules /opt/berth/node_modules
ENV NODE_PATH=/opt/berth/node_modules
`);
    expect(text).not.toMatch(/^RUN/m);
  });

  it('installs apt packages on the offline Debian base as root, then returns to the agent user', () => {
    expect(containerfile('b:1', 'offline', { apt: ['jq', 'sqlite3'], npm: ['x'] })).toBe(`FROM b:1
USER root
RUN apt-get update && apt-get install -y --no-install-recommends jq sqlite3 && rm -rf /var/lib/apt/lists/*
USER 1000:1000
COPY npm/node_modules /opt/berth/node_modules
ENV NODE_PATH=/opt/berth/node_modules
`);
  });

  it('reads the base kind from the agent image label', () => {
    expect(baseKindOf({ 'berth.agent.build': 'offline' })).toBe('offline');
    expect(baseKindOf({ 'berth.agent.build': 'registry' })).toBe('registry');
    expect(baseKindOf({})).toBe('registry');
  });

  it('tags by a content hash of base and sorted packages', () => {
    const a = imageTag('support', 'sha256:1', { apt: ['b', 'a'], npm: ['x'] });
    expect(a).toMatch(/^berth-group-support:[0-9a-f]{16}$/);
    expect(imageTag('support', 'sha256:1', { apt: ['a', 'b'], npm: ['x'] })).toBe(a);
    expect(imageTag('support', 'sha256:2', { apt: ['a', 'b'], npm: ['x'] })).not.toBe(a);
    expect(imageTag('support', 'sha256:1', { apt: ['a', 'b'], npm: ['y'] })).not.toBe(a);
    expect(imageTag('team_a-', 'sha256:1', { apt: [], npm: ['x'] })).toMatch(/^berth-group-team-a:/);
  });
});

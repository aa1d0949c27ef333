import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { afterAll, describe, expect, it } from 'vitest';
import { type Config, ConfigError, loadConfig, resolveApiToken } from '../src/config.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('has documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject<Partial<Config>>({
      host: '127.0.0.1',
      port: 3000,
      dataDir: path.resolve('./data'),
      databaseUrl: undefined,
      runtime: 'auto',
      image: 'berth-agent:latest',
      apiToken: undefined,
      agent: 'claude',
      idleTimeoutMs: 30 * 60_000,
      hardTimeoutMs: 5 * 60_000,
      maxContainers: 16,
      maxAttempts: 3,
      proxyHost: undefined,
      proxyPort: 0,
      proxyUpstream: 'https://api.anthropic.com',
      credentialsFile: undefined,
      mountAllowlist: path.join(homedir(), '.config/berth/mount-allowlist.json'),
      projectRoot: process.cwd(),
      installId: undefined,
      logLevel: 'info',
      timezone: 'UTC',
    });
  });

  it('treats empty values as unset', () => {
    const config = loadConfig({ BERTH_PORT: '', BERTH_RUNTIME: '', DATABASE_URL: '', BERTH_API_TOKEN: '' });
    expect(config).toMatchObject({
      port: 3000,
      runtime: 'auto',
      databaseUrl: undefined,
      apiToken: undefined,
    });
  });

  it('refuses to listen on every interface', () => {
    for (const host of ['0.0.0.0', '::', '[::]', '::ffff:0.0.0.0'])
      expect(() => loadConfig({ BERTH_HOST: host }), host).toThrow(/BERTH_HOST must name one interface/);
    for (const host of ['0', '0x0', 'example.com'])
      expect(() => loadConfig({ BERTH_HOST: host }), host).toThrow(
        /BERTH_HOST must be an IP address or localhost/,
      );
    expect(loadConfig({ BERTH_HOST: '::1' }).host).toBe('::1');
  });

  it('reads the public variables', () => {
    const config = loadConfig({
      BERTH_HOST: '10.1.2.3',
      BERTH_PORT: '8080',
      BERTH_DATA_DIR: '/srv/berth',
      DATABASE_URL: 'postgresql://u:p@127.0.0.1:5432/berth',
      BERTH_RUNTIME: 'podman',
      BERTH_AGENT: 'echo',
      BERTH_MAX_CONTAINERS: '4',
      BERTH_CONTAINER_CPUS: '0.5',
      BERTH_PROXY_UPSTREAM: 'http://127.0.0.1:9999',
      BERTH_MOUNT_ALLOWLIST: '/etc/berth/allow.json',
      HOME: '/home/someone',
    });
    expect(config).toMatchObject({
      host: '10.1.2.3',
      port: 8080,
      dataDir: '/srv/berth',
      databaseUrl: 'postgresql://u:p@127.0.0.1:5432/berth',
      runtime: 'podman',
      agent: 'echo',
      maxContainers: 4,
      containerCpus: 0.5,
      proxyUpstream: 'http://127.0.0.1:9999',
      mountAllowlist: '/etc/berth/allow.json',
    });
  });

  it('derives the allowlist path from HOME', () => {
    expect(loadConfig({ HOME: '/home/someone' }).mountAllowlist).toBe(
      '/home/someone/.config/berth/mount-allowlist.json',
    );
  });

  it('refuses an unknown BERTH_ variable, naming it', () => {
    const err = errorOf({ BERTH_PROT: '3000' });
    expect(err.name).toBe('ConfigError');
    expect(err.message).toContain('BERTH_PROT');
    expect(err.message).toContain('BERTH_PORT');
  });

  it("accepts the berth CLI's own variables, so one shell can run both", () => {
    const config = loadConfig({ BERTH_URL: 'http://127.0.0.1:3917', BERTH_TOKEN: 'cli-token' });
    expect(config.apiToken).toBeUndefined();
  });

  it('ignores variables outside its namespace', () => {
    expect(() => loadConfig({ FOO: '1', BERTHA: 'x', NODE_ENV: 'test' })).not.toThrow();
  });

  it.each([
    ['not a number', 'http'],
    ['negative', '-1'],
    ['too large', '65536'],
    ['fractional', '80.5'],
    ['padded', ' 80'],
  ])('refuses a %s port, naming BERTH_PORT', (_what, value) => {
    const err = errorOf({ BERTH_PORT: value });
    expect(err.message).toContain('BERTH_PORT');
    expect(err.message).toContain(value.trim());
  });

  it.each([
    ['BERTH_RUNTIME', 'lxc', 'docker'],
    ['BERTH_AGENT', 'gpt', 'claude'],
    ['BERTH_LOG_LEVEL', 'loud', 'debug'],
  ])('refuses %s=%s, listing the allowed values', (name, value, allowed) => {
    const err = errorOf({ [name]: value });
    expect(err.message).toContain(name);
    expect(err.message).toContain(value);
    expect(err.message).toContain(allowed);
  });

  it.each([
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_URL', 'mysql://127.0.0.1/berth'],
    ['BERTH_PROXY_UPSTREAM', 'ftp://127.0.0.1'],
    ['BERTH_PROXY_UPSTREAM', '127.0.0.1:9999'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(errorOf({ [name]: value }).message).toContain(name);
  });

  it('does not echo a password from a malformed database URL', () => {
    const err = errorOf({ DATABASE_URL: 'postgres ://admin:hunter2@127.0.0.1/db' });
    expect(err.message).toContain('DATABASE_URL');
    expect(err.message).not.toContain('hunter2');
  });

  it.each([
    ['BERTH_CONTAINER_CPUS', 'lots'],
    ['BERTH_CONTAINER_CPUS', '0'],
    ['BERTH_MAX_CONTAINERS', '0'],
    ['BERTH_IDLE_TIMEOUT_MS', '1'],
    ['BERTH_INSTALL_ID', 'Not_Valid'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(errorOf({ [name]: value }).message).toContain(name);
  });

  it('reports every bad variable at once', () => {
    const err = errorOf({ BERTH_PORT: 'x', BERTH_RUNTIME: 'y', BERTH_NOPE: '1' });
    for (const name of ['BERTH_PORT', 'BERTH_RUNTIME', 'BERTH_NOPE']) expect(err.message).toContain(name);
  });
});

describe('schedule settings', () => {
  it('default to TZ when it is an IANA name, else UTC', () => {
    expect(loadConfig({}).scheduleTimezone).toBe('UTC');
    expect(loadConfig({ TZ: 'Asia/Tokyo' }).scheduleTimezone).toBe('Asia/Tokyo');
    expect(loadConfig({ TZ: ':/etc/localtime' }).scheduleTimezone).toBe('UTC');
    expect(loadConfig({ TZ: 'Asia/Tokyo', BERTH_SCHEDULE_TIMEZONE: 'Europe/Paris' }).scheduleTimezone).toBe(
      'Europe/Paris',
    );
    expect(loadConfig({})).toMatchObject<Partial<Config>>({
      schedulePollMs: 1000,
      scheduleCatchUpMs: 3_600_000,
      scheduleMaxFailures: 3,
      scheduleMaxPerSession: 50,
    });
  });

  it('refuses a time zone that is not an IANA name and a poll period below 50 ms', () => {
    expect(errorOf({ BERTH_SCHEDULE_TIMEZONE: 'Moon/Base' }).message).toMatch(
      /BERTH_SCHEDULE_TIMEZONE must be an IANA time zone/,
    );
    expect(errorOf({ BERTH_SCHEDULE_POLL_MS: '10' }).message).toMatch(/BERTH_SCHEDULE_POLL_MS/);
  });
});

describe('resolveApiToken', () => {
  it('returns a configured token without writing a file', () => {
    const dataDir = path.join(tmp, 'configured');
    const config = loadConfig({ BERTH_DATA_DIR: dataDir, BERTH_API_TOKEN: 'secret-token' });
    expect(resolveApiToken(config)).toEqual({ token: 'secret-token', generated: false });
    expect(existsSync(path.join(dataDir, 'api-token'))).toBe(false);
  });

  it('generates a token once, stores it with mode 0600, and reuses it', () => {
    const dataDir = path.join(tmp, 'generated', 'nested');
    const config = loadConfig({ BERTH_DATA_DIR: dataDir });
    const first = resolveApiToken(config);
    expect(first.generated).toBe(true);
    expect(first.token).toMatch(/^berth_[A-Za-z0-9_-]{32}$/);
    const file = path.join(dataDir, 'api-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);

    const second = resolveApiToken(loadConfig({ BERTH_DATA_DIR: dataDir }));
    expect(second).toEqual({ token: first.token, generated: false });
  });

  it('gives each data dir its own token', () => {
    const a = resolveApiToken(loadConfig({ BERTH_DATA_DIR: path.join(tmp, 'a') }));
    const b = resolveApiToken(loadConfig({ BERTH_DATA_DIR: path.join(tmp, 'b') }));
    expect(a.token).not.toBe(b.token);
  });

  it('refuses an empty token file instead of accepting an empty token', () => {
    const dataDir = path.join(tmp, 'empty');
    resolveApiToken(loadConfig({ BERTH_DATA_DIR: dataDir }));
    writeFileSync(path.join(dataDir, 'api-token'), '\n');
    expect(() => resolveApiToken(loadConfig({ BERTH_DATA_DIR: dataDir }))).toThrow(ConfigError);
    expect(() => resolveApiToken(loadConfig({ BERTH_DATA_DIR: dataDir }))).toThrow(/api-token/);
  });
});

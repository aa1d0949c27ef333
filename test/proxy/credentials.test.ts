import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Logger, silentLogger } from '../../src/logger.ts';
import { createCredentialSource, parseCredentialFile } from '../../src/proxy/credentials.ts';

let dir: string;
let file: string;
const warnings: string[] = [];
const log: Logger = {
  ...silentLogger,
  warn: (obj: object, msg: string) => warnings.push(`${msg} ${JSON.stringify(obj)}`),
};

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'berth-creds-'));
  file = path.join(dir, 'credentials.json');
  warnings.length = 0;
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const write = (value: unknown) =>
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));

/** Writes beside the file and renames over it, as token refreshers do. */
const replace = (value: unknown) => {
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
};

describe('credential source from values', () => {
  it('prefers the API key, then the OAuth token, else none', () => {
    expect(createCredentialSource({ apiKey: 'sk-a', oauthToken: 'sk-o' }).current()).toEqual({
      mode: 'api-key',
      value: 'sk-a',
    });
    const oauth = createCredentialSource({ oauthToken: ' sk-o\n' });
    expect([oauth.mode(), oauth.current()?.value]).toEqual(['oauth', 'sk-o']);
    const none = createCredentialSource({ apiKey: '' });
    expect([none.mode(), none.current()]).toEqual(['none', undefined]);
  });

  it('refuses values that could split a header, without echoing them', () => {
    expect(() => createCredentialSource({ apiKey: 'sk-secret\r\nx-evil: 1' })).toThrow(
      expect.objectContaining({
        code: 'CREDENTIALS_INVALID',
        message: expect.not.stringContaining('sk-secret'),
      }),
    );
  });

  it('gives nothing after close', () => {
    const source = createCredentialSource({ apiKey: 'sk-a' });
    source.close();
    expect(source.mode()).toBe('none');
  });
});

describe('credentials file', () => {
  it('reads the three accepted shapes', () => {
    expect(parseCredentialFile('{"apiKey":"sk-1"}').credential).toEqual({ mode: 'api-key', value: 'sk-1' });
    expect(parseCredentialFile('{"oauthToken":"sk-2"}').credential).toEqual({ mode: 'oauth', value: 'sk-2' });
    expect(
      parseCredentialFile(
        JSON.stringify({
          claudeAiOauth: { accessToken: 'sk-3', refreshToken: 'r', expiresAt: 1700000000000 },
        }),
      ),
    ).toEqual({ credential: { mode: 'oauth', value: 'sk-3' }, expiresAt: 1700000000000 });
  });

  it.each([
    ['not json', /not valid JSON/],
    ['[1]', /JSON object/],
    ['{}', /holds no/],
    ['{"apiKey":42}', /must be a string/],
    ['{"apiKey":"sk-a","oauthToken":"sk-b"}', /both/],
  ])('rejects %s with a reason', (text, reason) => {
    expect(() => parseCredentialFile(text)).toThrow(reason);
  });

  it('follows rename and in-place rotations without a restart', () => {
    write({ apiKey: 'sk-one' });
    const source = createCredentialSource({ file, apiKey: 'sk-ignored-when-a-file-is-set', log });
    expect(source.current()).toEqual({ mode: 'api-key', value: 'sk-one' });
    replace({ claudeAiOauth: { accessToken: 'sk-ant-oat01-two' } });
    expect(source.current()).toEqual({ mode: 'oauth', value: 'sk-ant-oat01-two' });
    write({ oauthToken: 'sk-ant-oat01-three-longer' });
    expect(source.mode()).toBe('oauth');
    expect(source.current()?.value).toBe('sk-ant-oat01-three-longer');
    expect(warnings).toEqual([]);
  });

  it('keeps the last good credential while the file is broken, drops it when the file is gone', () => {
    write({ apiKey: 'sk-good' });
    const source = createCredentialSource({ file, log });
    expect(source.current()?.value).toBe('sk-good');
    write('{"apiKey": "sk-half-writ');
    expect(source.current()?.value).toBe('sk-good');
    expect(source.current()?.value).toBe('sk-good');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(file);
    expect(warnings[0]).toContain('keeping the previous credential');
    write({ apiKey: 'sk-fixed' });
    expect(source.current()?.value).toBe('sk-fixed');
    unlinkSync(file);
    expect(source.current()).toBeUndefined();
    expect(source.mode()).toBe('none');
    replace({ apiKey: 'sk-back' });
    expect(source.current()?.value).toBe('sk-back');
  });

  it('starts with none when the file is missing, and finds it once written', () => {
    const source = createCredentialSource({ file, log });
    expect(source.mode()).toBe('none');
    expect(warnings.join()).toContain('ENOENT');
    replace({ apiKey: 'sk-late' });
    expect(source.current()?.value).toBe('sk-late');
  });

  it('warns once about an expired OAuth token and still uses it', () => {
    write({ claudeAiOauth: { accessToken: 'sk-ant-oat01-old', expiresAt: Date.now() - 60_000 } });
    const source = createCredentialSource({ file, log });
    expect(source.current()?.value).toBe('sk-ant-oat01-old');
    source.current();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/expired at .*re-read on change/);
  });

  it('never puts a value in a warning', () => {
    write('{"apiKey":"sk-visible-secret", "oauthToken": "sk-other-secret"}');
    const source = createCredentialSource({ file, log });
    expect(source.current()).toBeUndefined();
    write('{"apiKey":"sk-bad secret with spaces"}');
    source.current();
    expect(warnings).toHaveLength(2);
    for (const w of warnings) expect(w).not.toMatch(/secret/);
  });
});

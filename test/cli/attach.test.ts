import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentTypeOf, readAttachment } from '../../src/cli/attach.ts';
import { tempDir } from '../support/db.ts';

describe('berth send --attach: reading a file for the message', () => {
  const dir = tempDir('berth-cli-attach-');

  it('reads a file as base64 with its base name and a content type from its extension', async () => {
    const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0x10]);
    const file = path.join(dir, 'Chart.PNG');
    writeFileSync(file, bytes);
    const a = await readAttachment(file);
    expect(a).toEqual({ name: 'Chart.PNG', contentType: 'image/png', data: bytes.toString('base64') });
    expect(Buffer.from(a.data, 'base64')).toEqual(bytes);
  });

  it('leaves the content type to the server for an unknown extension', async () => {
    const file = path.join(dir, 'notes.weird');
    writeFileSync(file, 'plain words');
    expect(await readAttachment(file)).toEqual({
      name: 'notes.weird',
      data: Buffer.from('plain words').toString('base64'),
    });
    expect(contentTypeOf('report.pdf')).toBe('application/pdf');
    expect(contentTypeOf('Makefile')).toBeUndefined();
  });

  it('refuses a missing file and a directory with a usage error', async () => {
    await expect(readAttachment(path.join(dir, 'nope.txt'))).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('no such file'),
    });
    await expect(readAttachment(dir)).rejects.toMatchObject({
      exitCode: 2,
      message: expect.stringContaining('not a regular file'),
    });
  });
});

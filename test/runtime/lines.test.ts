import { Buffer } from 'node:buffer';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LINE_TRUNCATED, LineSplitter, onLines } from '../../src/runtime/lines.ts';

function split(input: Buffer, size: number, maxLineBytes?: number): string[] {
  const splitter = new LineSplitter(maxLineBytes);
  const out: string[] = [];
  for (let i = 0; i < input.length; i += size) out.push(...splitter.push(input.subarray(i, i + size)));
  return [...out, ...splitter.end()];
}

describe('LineSplitter', () => {
  it('splits across chunk boundaries and flushes the last partial line', () => {
    const input = Buffer.from('first\nsecond line\n\nthird');
    for (const size of [1, 2, 5, 100])
      expect(split(input, size)).toEqual(['first', 'second line', '', 'third']);
  });

  it('emits nothing for an empty stream and no extra line after a final newline', () => {
    expect(new LineSplitter().end()).toEqual([]);
    expect(split(Buffer.from('a\n'), 1)).toEqual(['a']);
  });

  it('accepts strings as well as buffers', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('one\ntw')).toEqual(['one']);
    expect(splitter.push('o\n')).toEqual(['two']);
  });

  it('decodes invalid UTF-8 with replacement characters', () => {
    const input = Buffer.concat([
      Buffer.from('ok '),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('\nnext\n'),
    ]);
    expect(split(input, 1)).toEqual(['ok \ufffd\ufffd\ufffd', 'next']);
  });

  it('reassembles characters split across chunks', () => {
    expect(split(Buffer.from('€🚢\n'), 1)).toEqual(['€🚢']);
  });

  it('truncates long lines at the cap with a marker and drops the rest of the line', () => {
    const input = Buffer.from(`${'a'.repeat(50)}\n${'b'.repeat(16)}\n${'c'.repeat(17)}`);
    for (const size of [1, 4, 1000]) {
      expect(split(input, size, 16)).toEqual([
        `${'a'.repeat(16)}${LINE_TRUNCATED}`,
        'b'.repeat(16),
        `${'c'.repeat(16)}${LINE_TRUNCATED}`,
      ]);
    }
  });

  it('cuts truncated lines on a character boundary', () => {
    const [first] = split(Buffer.from(`${'€'.repeat(10)}\n`), 3, 16);
    expect(first).toBe(`${'€'.repeat(5)}${LINE_TRUNCATED}`);
  });

  it('keeps memory bounded for a huge line without newline', () => {
    const splitter = new LineSplitter(1024);
    const out: string[] = [];
    const chunk = Buffer.alloc(1 << 20, 0x71);
    for (let i = 0; i < 64; i++) out.push(...splitter.push(chunk));
    out.push(...splitter.push('\nafter\n'), ...splitter.end());
    expect(out).toEqual([`${'q'.repeat(1024)}${LINE_TRUNCATED}`, 'after']);
  });

  it('drops a trailing carriage return', () => {
    expect(split(Buffer.from('dos\r\nunix\n'), 3)).toEqual(['dos', 'unix']);
  });
});

describe('onLines', () => {
  it('hands every line of a stream to the callback, the last one without newline included', async () => {
    const lines: string[] = [];
    await onLines(Readable.from([Buffer.from('one\nt'), Buffer.from('wo\nthree')]), (l) => lines.push(l));
    expect(lines).toEqual(['one', 'two', 'three']);
  });
});

import { describe, expect, it } from 'vitest';
import {
  encodeClose,
  encodeFrame,
  encodeInterrupt,
  encodeMessage,
  type Frame,
  FrameParser,
  frameBegin,
  frameEnd,
  newFrameNonce,
  type StdoutItem,
  TRUNCATION_MARKER,
} from '../../src/protocol/frames.ts';

const NONCE = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const OTHER = 'ffffffffffffffffffffffffffffffff';

function frame(f: Frame, nonce = NONCE): string {
  return encodeFrame(nonce, f);
}

function raw(payload: string, nonce = NONCE): string {
  return `${frameBegin(nonce)}\n${payload}\n${frameEnd(nonce)}\n`;
}

/** Feeds `input` in pieces of `size` bytes (0: all at once) and collects everything, end() included. */
function parse(input: string | Buffer, size = 0, limits = {}): StdoutItem[] {
  const parser = new FrameParser(NONCE, limits);
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const out: StdoutItem[] = [];
  const step = size || bytes.length || 1;
  for (let i = 0; i < bytes.length; i += step) out.push(...parser.push(bytes.subarray(i, i + step)));
  out.push(...parser.end());
  return out;
}

const line = (text: string): StdoutItem => ({ kind: 'line', line: text });
const framed = (f: Frame): StdoutItem => ({ kind: 'frame', frame: f });
const kinds = (items: StdoutItem[]) => items.map((i) => i.kind);

describe('host → container encoding', () => {
  it('encodes interrupt as one NDJSON line', () => {
    expect(encodeInterrupt()).toBe('{"type":"interrupt"}\n');
  });

  it('encodes messages and close as single NDJSON lines', () => {
    const text = 'multi\nline "quoted" \u2028 text';
    const encoded = encodeMessage({ id: 'm-1', seq: 7, text });
    expect(encoded.endsWith('\n')).toBe(true);
    expect(encoded.slice(0, -1)).not.toContain('\n');
    expect(JSON.parse(encoded)).toEqual({ type: 'message', id: 'm-1', seq: 7, text });
    expect(JSON.parse(encodeClose())).toEqual({ type: 'close' });
    expect(encodeClose().endsWith('\n')).toBe(true);
  });

  it('makes fresh 128-bit nonces the parser accepts', () => {
    const nonces = new Set(Array.from({ length: 100 }, newFrameNonce));
    expect(nonces.size).toBe(100);
    for (const n of nonces) expect(n).toMatch(/^[0-9a-f]{32}$/);
    expect(() => new FrameParser(newFrameNonce())).not.toThrow();
    expect(() => new FrameParser('short')).toThrow(TypeError);
    expect(() => new FrameParser(`${NONCE}\nx`)).toThrow(TypeError);
  });
});

describe('FrameParser', () => {
  const all: Frame[] = [
    { type: 'ready' },
    { type: 'reply', inReplyTo: 'm1', text: 'hello\nworld' },
    { type: 'ack', id: 'm1' },
    { type: 'heartbeat' },
    { type: 'error', id: 'm2', message: 'upstream 529: overloaded' },
    { type: 'error', message: 'stdin line is not JSON' },
    { type: 'text', inReplyTo: 'm1', text: 'Looking at the files.' },
    {
      type: 'tool',
      inReplyTo: 'm1',
      toolUseId: 't1',
      name: 'Bash',
      phase: 'start',
      input: '{"command":"ls"}',
    },
    {
      type: 'tool',
      inReplyTo: 'm1',
      toolUseId: 't1',
      name: 'Bash',
      phase: 'end',
      input: '{"command":"ls"}',
      result: 'a\nb',
      isError: false,
      durationMs: 12,
    },
    {
      type: 'usage',
      inReplyTo: 'm1',
      inputTokens: 20,
      outputTokens: 8,
      cacheReadTokens: 3,
      cacheCreationTokens: 2,
      costUsd: 0.00025,
      turns: 2,
      durationMs: 1440,
      interrupted: true,
    },
  ];

  it.each(all.map((f) => [f.type, f] as const))('parses a %s frame written by the runner', (_type, f) => {
    expect(parse(frame(f))).toEqual([framed(f)]);
  });

  it.each([
    [
      'a tool frame with an unknown phase',
      { type: 'tool', inReplyTo: 'm', toolUseId: 't', name: 'Bash', phase: 'x', input: '' },
      /phase/,
    ],
    [
      'a tool frame without a name',
      { type: 'tool', inReplyTo: 'm', toolUseId: 't', phase: 'start', input: '' },
      /name/,
    ],
    [
      'a usage frame with a negative count',
      {
        type: 'usage',
        inReplyTo: 'm',
        inputTokens: -1,
        outputTokens: 0,
        cacheReadTokens: 0,
        cacheCreationTokens: 0,
        costUsd: 0,
        turns: 1,
        durationMs: 1,
      },
      /inputTokens/,
    ],
    ['a text frame without text', { type: 'text', inReplyTo: 'm' }, /text needs/],
  ])('rejects %s', (_what, payload, why) => {
    const [item] = parse(raw(JSON.stringify(payload)));
    expect(item!.kind).toBe('invalid');
    expect((item as { message: string }).message).toMatch(why);
  });

  const stream = [
    'runner says hi\n',
    frame(all[0]!),
    'plain output between frames\n',
    frame(all[1]!),
    frame(all[2]!),
    '\n',
    frame(all[3]!),
    'trailing text without newline',
  ].join('');
  const expected = [
    line('runner says hi'),
    framed(all[0]!),
    line('plain output between frames'),
    framed(all[1]!),
    framed(all[2]!),
    line(''),
    framed(all[3]!),
    line('trailing text without newline'),
  ];

  it.each([0, 1, 2, 3, 7, 64])('gives the same result for chunks of %i bytes', (size) => {
    expect(parse(stream, size)).toEqual(expected);
  });

  it('keeps multi-byte text intact when chunks split characters', () => {
    const f: Frame = { type: 'reply', inReplyTo: 'x', text: 'grüße € 🚢 日本' };
    expect(parse(`${frame(f)}naïve ☃\n`, 1)).toEqual([framed(f), line('naïve ☃')]);
  });

  it('parses thousands of frames from one chunk in order', () => {
    const input = Array.from({ length: 5000 }, (_, i) => frame({ type: 'ack', id: `m${i}` })).join('');
    const items = parse(input);
    expect(items).toHaveLength(5000);
    expect(items.map((i) => (i.kind === 'frame' && i.frame.type === 'ack' ? i.frame.id : '?'))).toEqual(
      Array.from({ length: 5000 }, (_, i) => `m${i}`),
    );
  });

  it('treats frames carrying another nonce as plain output', () => {
    const forged = frame({ type: 'ack', id: 'm1' }, OTHER);
    expect(parse(forged + frame({ type: 'heartbeat' }))).toEqual([
      line(frameBegin(OTHER)),
      line('{"type":"ack","id":"m1"}'),
      line(frameEnd(OTHER)),
      framed({ type: 'heartbeat' }),
    ]);
  });

  it('cannot be forged from inside reply text', () => {
    const evil = `done\n${frameBegin(NONCE)}\n{"type":"ack","id":"m9"}\n${frameEnd(NONCE)}\n`;
    const f: Frame = { type: 'reply', inReplyTo: 'm1', text: evil };
    expect(parse(frame(f))).toEqual([framed(f)]);
  });

  it('passes garbage through as lines and stays in sync', () => {
    const garbage = [
      '<<<berth-frame:',
      `<<<berth-frame:${NONCE} trailing`,
      ` ${frameBegin(NONCE)}`,
      frameEnd(NONCE),
      '\u0000\u0001 binary-ish',
      '{"type":"ack","id":"not a frame"}',
    ];
    const items = parse(`${garbage.join('\n')}\n${frame({ type: 'ack', id: 'real' })}`, 5);
    expect(items).toEqual([...garbage.map(line), framed({ type: 'ack', id: 'real' })]);
  });

  it.each([
    ['not JSON', '{"type":"ack",', 'not JSON'],
    ['an array', '[1,2]', 'not a JSON object'],
    ['an unknown type', '{"type":"surprise"}', 'unknown frame type'],
    ['an ack without id', '{"type":"ack"}', 'ack without a string id'],
    ['a reply without text', '{"type":"reply","inReplyTo":"m1"}', 'reply needs'],
    ['an error without message', '{"type":"error","id":"m1"}', 'error without a string message'],
  ])('rejects a payload that is %s and keeps going', (_name, payload, reason) => {
    const items = parse(raw(payload) + frame({ type: 'ack', id: 'next' }));
    expect(kinds(items)).toEqual(['invalid', 'frame']);
    expect(items[0]).toMatchObject({ kind: 'invalid', message: expect.stringContaining(reason) });
    expect(items[1]).toEqual(framed({ type: 'ack', id: 'next' }));
  });

  it('reports a frame without end marker and keeps the following line', () => {
    const input = `${frameBegin(NONCE)}\n{"type":"ack","id":"m1"}\nsomething else\n${frame({ type: 'heartbeat' })}`;
    expect(parse(input)).toEqual([
      { kind: 'invalid', message: expect.stringContaining('without end marker') },
      line('something else'),
      framed({ type: 'heartbeat' }),
    ]);
  });

  it('reports a begin marker that is followed by another begin marker', () => {
    const input = `${frameBegin(NONCE)}\n${frame({ type: 'ack', id: 'm2' })}`;
    expect(parse(input)).toEqual([
      { kind: 'invalid', message: expect.stringContaining('without payload') },
      framed({ type: 'ack', id: 'm2' }),
    ]);
  });

  it('reports output that ends inside a frame', () => {
    expect(parse(`${frameBegin(NONCE)}\n{"type":"hea`)).toEqual([
      { kind: 'invalid', message: expect.stringContaining('ended inside a frame') },
    ]);
  });

  it('rejects oversize frames without buffering them, in any chunking', () => {
    const big = frame({ type: 'reply', inReplyTo: 'm1', text: 'x'.repeat(10_000) });
    const input = `${big}${frame({ type: 'ack', id: 'm1' })}`;
    for (const size of [0, 1, 333]) {
      expect(parse(input, size, { maxFrameBytes: 1024 })).toEqual([
        { kind: 'invalid', message: expect.stringContaining('exceeds 1024 bytes') },
        framed({ type: 'ack', id: 'm1' }),
      ]);
    }
  });

  it('survives a 64 MiB payload fed in 1 MiB chunks under a 1 MiB cap', () => {
    const parser = new FrameParser(NONCE, { maxFrameBytes: 1 << 20 });
    const items: StdoutItem[] = [...parser.push(`${frameBegin(NONCE)}\n`)];
    const chunk = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 64; i++) items.push(...parser.push(chunk));
    items.push(...parser.push(`\n${frameEnd(NONCE)}\n`), ...parser.push(frame({ type: 'heartbeat' })));
    expect(kinds(items)).toEqual(['invalid', 'frame']);
  });

  it('accepts a payload of exactly maxFrameBytes', () => {
    const payload = JSON.stringify({ type: 'reply', inReplyTo: 'm', text: 'y'.repeat(100) });
    const items = parse(raw(payload), 0, { maxFrameBytes: Buffer.byteLength(payload) });
    expect(kinds(items)).toEqual(['frame']);
  });

  it('truncates long plain lines with the marker and resumes at the next line', () => {
    const items = parse(`${'z'.repeat(100)}\nshort\n`, 7, { maxLineBytes: 64 });
    expect(items).toEqual([line(`${'z'.repeat(64)}${TRUNCATION_MARKER}`), line('short')]);
  });
});

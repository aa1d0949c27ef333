import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { costMicroUsd, DEFAULT_PRICES, priceOf, priceTable } from '../../src/proxy/pricing.ts';
import { usageMeter } from '../../src/proxy/usage-meter.ts';

const event = (name: string, data: object) => `event: ${name}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`;

const STREAM = [
  event('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_1',
      model: 'claude-haiku-4-5-20251001',
      usage: {
        input_tokens: 7,
        cache_creation_input_tokens: 11,
        cache_read_input_tokens: 13,
        output_tokens: 1,
      },
    },
  }),
  event('content_block_delta', {
    type: 'content_block_delta',
    index: 0,
    // A reply that quotes usage JSON must not be taken for the real thing.
    delta: { type: 'text_delta', text: 'é "usage": {"output_tokens": 999} ✓' },
  }),
  event('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn' },
    usage: { output_tokens: 42 },
  }),
  event('message_stop', { type: 'message_stop' }),
].join('');

const expected = {
  model: 'claude-haiku-4-5-20251001',
  inputTokens: 7,
  outputTokens: 42,
  cacheCreationInputTokens: 11,
  cacheReadInputTokens: 13,
};

describe('usage meter', () => {
  it('reads SSE usage however the stream is cut into chunks, multi-byte characters included', () => {
    const bytes = Buffer.from(STREAM);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const meter = usageMeter('text/event-stream; charset=utf-8', undefined)!;
      meter.push(bytes.subarray(0, cut));
      meter.push(bytes.subarray(cut));
      expect(meter.result(), `cut at ${cut}`).toEqual(expected);
    }
    const byteWise = usageMeter('text/event-stream', 'identity')!;
    for (const b of bytes) byteWise.push(Buffer.from([b]));
    expect(byteWise.result()).toEqual(expected);
  });

  it('skips an over-long line without buffering it and still finds the usage after it', () => {
    const meter = usageMeter('text/event-stream', undefined)!;
    const huge = `data: {"type":"content_block_delta","usage":"${'x'.repeat(2 * 1024 * 1024)}"}\n\n`;
    const [start, rest] = [
      STREAM.slice(0, STREAM.indexOf('event: content')),
      STREAM.slice(STREAM.indexOf('event: content')),
    ];
    meter.push(Buffer.from(start));
    for (let i = 0; i < huge.length; i += 64 * 1024) meter.push(Buffer.from(huge.slice(i, i + 64 * 1024)));
    meter.push(Buffer.from(rest));
    expect(meter.result()).toEqual(expected);
  });

  it('reads a JSON message; reports nothing for errors, other types and compressed bodies', () => {
    const json = usageMeter('application/json', undefined)!;
    json.push(Buffer.from(JSON.stringify({ model: 'm', usage: { input_tokens: 3, output_tokens: 4 } })));
    expect(json.result()).toEqual({
      model: 'm',
      inputTokens: 3,
      outputTokens: 4,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
    });
    const error = usageMeter('application/json', undefined)!;
    error.push(Buffer.from('{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'));
    expect(error.result()).toBeUndefined();
    expect(usageMeter('text/plain', undefined)).toBeUndefined();
    expect(usageMeter('application/json', 'gzip')).toBeUndefined();
  });
});

describe('price table', () => {
  it('matches exact ids, then the longest dated prefix, then the fallback', () => {
    expect(priceOf(DEFAULT_PRICES, 'claude-sonnet-4-5-20250929').input).toBe(3);
    expect(priceOf(DEFAULT_PRICES, 'claude-opus-4-5@20251101').input).toBe(5);
    expect(priceOf(DEFAULT_PRICES, 'claude-opus-4-20250514').input).toBe(15);
    expect(priceOf(DEFAULT_PRICES, 'claude-sonnet-45')).toBe(DEFAULT_PRICES['*']);
    expect(priceOf(DEFAULT_PRICES, 'gpt-x')).toBe(DEFAULT_PRICES['*']);
    const usage = {
      inputTokens: 1e6,
      outputTokens: 1e6,
      cacheCreationInputTokens: 1e6,
      cacheReadInputTokens: 1e6,
    };
    expect(costMicroUsd(DEFAULT_PRICES, 'claude-haiku-4-5', usage)).toBe((1 + 5 + 1.25 + 0.1) * 1e6);
  });

  it('lays configured prices (BERTH_MODEL_PRICES) over the defaults and names what is wrong', () => {
    const prices = (raw: string) => priceTable(loadConfig({ BERTH_MODEL_PRICES: raw }).modelPrices);
    const table = prices(
      '{"my-model": {"input": 2, "output": 8}, "*": {"input": 1, "output": 1, "cacheRead": 0}}',
    );
    expect(table['my-model']).toEqual({ input: 2, output: 8, cacheWrite: 2.5, cacheRead: 0.2 });
    expect(table['*']).toEqual({ input: 1, output: 1, cacheWrite: 1.25, cacheRead: 0 });
    expect(table['claude-sonnet-4-5']).toEqual(DEFAULT_PRICES['claude-sonnet-4-5']);
    expect(priceTable(loadConfig({}).modelPrices)).toEqual(DEFAULT_PRICES);
    expect(() => prices('[]')).toThrow(/JSON object/);
    expect(() => prices('{"m": {"input": 1}}')).toThrow(/"m".output/);
    expect(() => prices('{"m": {"input": 1, "output": 1, "cache": 1}}')).toThrow(/not a price field/);
    expect(() => prices('{"bad name": {"input": 1, "output": 1}}')).toThrow(/not a model name/);
  });
});

import { describe, expect, it } from 'vitest';
import { SseScanner, usageFromJson } from '../../src/protocols/messages/sse.js';

const STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":120,"cache_creation_input_tokens":30,"cache_read_input_tokens":400,"output_tokens":1}}}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type":"ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"héllo ✓"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

function scan(chunks: Buffer[]): SseScanner {
  const s = new SseScanner();
  for (const c of chunks) s.push(c);
  return s;
}

describe('SseScanner', () => {
  it('reads events, usage and message_stop from one chunk', () => {
    const s = scan([Buffer.from(STREAM)]);
    expect(s.events).toBe(7);
    expect(s.firstEvent).toBe('message_start');
    expect(s.sawMessageStop).toBe(true);
    expect(s.usage).toEqual({ input_tokens: 120, output_tokens: 42, cache_creation_input_tokens: 30, cache_read_input_tokens: 400 });
  });

  it('gives the same answer however the bytes are split, even inside a UTF-8 character', () => {
    const bytes = Buffer.from(STREAM);
    for (const size of [1, 2, 3, 7, 64]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      const s = scan(chunks);
      expect(s.events, `chunk size ${size}`).toBe(7);
      expect(s.sawMessageStop).toBe(true);
      expect(s.usage.output_tokens).toBe(42);
    }
  });

  it('handles CRLF line endings', () => {
    const s = scan([Buffer.from(STREAM.replaceAll('\n', '\r\n'))]);
    expect(s.events).toBe(7);
    expect(s.usage.cache_read_input_tokens).toBe(400);
  });

  it('notices a stream that ends without message_stop, and an error event', () => {
    const cut = STREAM.slice(0, STREAM.indexOf('event: message_delta'));
    expect(scan([Buffer.from(cut)]).sawMessageStop).toBe(false);
    const err = scan([Buffer.from('event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')]);
    expect(err.firstEvent).toBe('error');
    expect(err.errorData).toContain('overloaded_error');
  });

  it('survives malformed usage JSON without throwing', () => {
    const s = scan([Buffer.from('event: message_start\ndata: {not json\n\nevent: message_stop\ndata: {}\n\n')]);
    expect(s.sawMessageStop).toBe(true);
    expect(s.usage.input_tokens).toBe(0);
  });
});

describe('usageFromJson', () => {
  it('reads the usage of a non-streaming message', () => {
    expect(usageFromJson(Buffer.from('{"type":"message","usage":{"input_tokens":5,"output_tokens":7,"cache_read_input_tokens":2}}'))).toEqual({
      input_tokens: 5,
      output_tokens: 7,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 2,
    });
    expect(usageFromJson(Buffer.from('{"type":"error"}'))).toBeUndefined();
  });
});

describe('usage read from text', () => {
  it('takes the last "usage" object, not one inside a tool input', () => {
    const body = '{"type":"message","content":[{"type":"tool_use","input":{"usage":{"input_tokens":999}}}],"usage":{"input_tokens":7,"output_tokens":3,"server_tool_use":{"web_search_requests":1}}}';
    expect(usageFromJson(Buffer.from(body))).toEqual({ input_tokens: 7, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  it('finds each number as the pattern "key"\\s*:\\s*(\\d+) would, through spacing, nulls and look-alike keys', () => {
    const byPattern = (text: string) => {
      const tail = text.slice(text.lastIndexOf('"usage"'));
      const out: Record<string, number> = {};
      for (const f of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens']) {
        const m = new RegExp(`"${f}"\\s*:\\s*(\\d+)`).exec(tail);
        if (m) out[f] = Number(m[1]);
      }
      return Object.keys(out).length > 0 ? out : undefined;
    };
    const texts = [
      '{"usage":{"cache_creation_input_tokens":30,"input_tokens":120}}',
      '{"usage":{"input_tokens" :\n\t 5 , "output_tokens":\r\n0}}',
      '{"usage":{"input_tokens":null,"output_tokens":"7","server":{"input_tokens":9}}}',
      '{"usage":{"input_tokens":-3,"output_tokens":12345678901}}',
      '{"usage":{"input_tokens"}} "input_tokens":4',
      '{"usage":{"output_tokens":',
      '{"usage":{}}',
      '{"usage":{"cache_read_input_tokens":1e3}}',
      '{"content":[{"text":"héllo ✓ 🚀"}],"usage":{"output_tokens":8,"input_tokens":2}}',
      '{"usage":{"input_tokens":1,"service_tier":"a\\"output_tokens\\":5","output_tokens":6}}',
      '{"usage":{"input_tokens":3,"cache_creation":{"ephemeral_5m_input_tokens":4},"cache_creation_input_tokens":5}}',
    ];
    for (const text of texts) {
      const fromScan = usageFromJson(Buffer.from(text));
      const expected = byPattern(text);
      expect(fromScan, text).toEqual(expected && { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, ...expected });
    }
  });
});

describe('SseScanner: the first content', () => {
  it('is the first content_block_delta, however the bytes are split; message_start, block start and pings are not content', () => {
    const bytes = Buffer.from(STREAM);
    const beforeDelta = bytes.indexOf('event: content_block_delta');
    for (const split of [1, 7, 50, beforeDelta - 1, beforeDelta, beforeDelta + 5]) {
      const s = new SseScanner();
      s.push(bytes.subarray(0, split));
      expect(s.sawContent).toBe(false);
      s.push(bytes.subarray(split, beforeDelta + 60));
      expect(s.sawContent).toBe(false); // the delta's blank line has not arrived yet
      s.push(bytes.subarray(beforeDelta + 60));
      expect(s.sawContent).toBe(true);
      expect(s.errorBeforeContent).toBe(false);
    }
  });

  it('message_delta or message_stop count as content (an empty answer); an error before them is a failure', () => {
    expect(scan([Buffer.from('event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n')]).sawContent).toBe(true);
    const failed = scan([Buffer.from('event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\nevent: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n')]);
    expect(failed.sawContent).toBe(false);
    expect(failed.errorBeforeContent).toBe(true);
    expect(failed.errorData).toContain('overloaded_error');
  });

  it('an error after content is not "before content"', () => {
    const s = scan([Buffer.from(STREAM.split('event: content_block_stop')[0]! + 'event: error\ndata: {"type":"error"}\n\n')]);
    expect(s.sawContent).toBe(true);
    expect(s.errorBeforeContent).toBe(false);
    expect(s.errorData).toBeDefined();
  });
});

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KnownBodies, RequestScanError, scanMessageRequest } from '../../src/proxy/request-scan.js';
import { prng } from '../helpers/prng.js';

/**
 * What JSON.parse makes of a body's bytes (as the proxy received them), in the scanner's terms; `invalid` when it
 * throws or is not an object.
 */
type Read = { model: string | undefined; stream: boolean; maxTokens: number | undefined };

function byJsonParse(text: string): Read | 'invalid' {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(text).toString('utf8'));
  } catch {
    return 'invalid';
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'invalid';
  const o = v as Record<string, unknown>;
  const m = o.max_tokens;
  return {
    model: typeof o.model === 'string' ? o.model : undefined,
    stream: o.stream === true,
    maxTokens: typeof m === 'number' && Number.isSafeInteger(m) && m >= 0 ? m : undefined,
  };
}

function byScanner(text: string, known?: KnownBodies): Read | 'invalid' {
  try {
    return scanMessageRequest(Buffer.from(text), known);
  } catch (e: unknown) {
    if (e instanceof RequestScanError) return 'invalid';
    throw e;
  }
}

const TRICKY = ['', 'plain', 'quote " inside', 'back\\slash', 'ends with backslash \\', '\\"', 'é ü 日本 🎉', '\u0000\u001f ctl', '{"not":"json"}', '[1,2]', 'model', 'stream', '\u2028'];

function randomValue(rand: () => number, depth: number): unknown {
  const pick = rand();
  if (depth > 4 || pick < 0.3) {
    const k = Math.floor(rand() * 6);
    if (k === 0) return TRICKY[Math.floor(rand() * TRICKY.length)];
    if (k === 1) return Math.floor(rand() * 2000) - 1000;
    if (k === 2) return (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
    if (k === 3) return rand() < 0.5;
    if (k === 4) return null;
    return 'x'.repeat(Math.floor(rand() * 300));
  }
  if (pick < 0.6) return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) o[rand() < 0.2 ? (rand() < 0.4 ? 'model' : rand() < 0.7 ? 'stream' : 'max_tokens') : TRICKY[Math.floor(rand() * TRICKY.length)]!] = randomValue(rand, depth + 1);
  return o;
}

function randomBody(rand: () => number): string {
  const body: Record<string, unknown> = { max_tokens: rand() < 0.7 ? Math.floor(rand() * 64_000) : randomValue(rand, 3), messages: randomValue(rand, 1) };
  if (rand() < 0.8) body.model = rand() < 0.8 ? TRICKY[Math.floor(rand() * TRICKY.length)] : randomValue(rand, 3);
  if (rand() < 0.6) body.stream = rand() < 0.7 ? rand() < 0.6 : randomValue(rand, 3);
  const text = JSON.stringify(body, null, rand() < 0.3 ? 2 : undefined);
  return rand() < 0.2 ? ` \n\t${text}\r\n ` : text;
}

describe('request body scanner', () => {
  it('reads model and stream from a real Claude Code request (76 KB) as JSON.parse does', () => {
    // The body of the request captured in shared/reference, as Claude Code sent it.
    const text = readFileSync(new URL('../fixtures/claude-code-2.1.197-messages-body.json', import.meta.url), 'utf8');
    expect(byScanner(text)).toEqual(byJsonParse(text));
    expect(byScanner(text)).toMatchObject({ stream: true });
  });

  it.each([
    ['{"model":"claude-sonnet-4-5","stream":true}', { model: 'claude-sonnet-4-5', stream: true, maxTokens: undefined }],
    ['{"model":"m","stream":false}', { model: 'm', stream: false, maxTokens: undefined }],
    ['{"stream":"true","model":1}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"model":"a","model":"b"}', { model: 'b', stream: false, maxTokens: undefined }],
    ['{"model":"a","model":{"x":1}}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"stream":true,"stream":[true]}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"mod\\u0065l":"escaped key","str\\u0065am":true}', { model: 'escaped key', stream: true, maxTokens: undefined }],
    ['{"model":"with \\"quotes\\" and \\\\ and \\u00e9"}', { model: 'with "quotes" and \\ and é', stream: false, maxTokens: undefined }],
    ['{"nested":{"model":"inner","stream":true},"model":"outer"}', { model: 'outer', stream: false, maxTokens: undefined }],
    ['{"messages":[{"content":"a \\" ] } , { ["}],"model":"m"}', { model: 'm', stream: false, maxTokens: undefined }],
    ['  {}  ', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"n":[-0,1.5e-3,2E+10,0.0,-12]}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"max_tokens":32000,"model":"m"}', { model: 'm', stream: false, maxTokens: 32000 }],
    ['{"max_tokens":1e3}', { model: undefined, stream: false, maxTokens: 1000 }],
    ['{"max_tokens":-1}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"max_tokens":1.5}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"max_tokens":"100"}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"max_tokens":100,"max_tokens":null}', { model: undefined, stream: false, maxTokens: undefined }],
    ['{"max_t\u006fkens":7,"x":{"max_tokens":9}}', { model: undefined, stream: false, maxTokens: 7 }],
  ])('reads %s', (text, expected) => {
    expect(byScanner(text)).toEqual(expected);
    expect(byJsonParse(text)).toEqual(expected);
  });

  it.each([
    '', ' ', '[]', '"s"', '1', 'null', '{', '}', '{"model":', '{"model":"m"', '{"model":"m",}', '{"a":[1,]}', '{"a" 1}', '{a:1}', "{'a':1}",
    '{"a":01}', '{"a":1.}', '{"a":.5}', '{"a":+1}', '{"a":1e}', '{"a":-}', '{"a":0x1}', '{"a":tru}', '{"a":nul}', '{"a":truex}',
    '{"a":t', '{"a":fals', '{"a":"\\x"}', '{"a":"\\u12G4"}', '{"a":"\\u12"}', '{"a":"unterminated}', '{"a":1}x', '{"a":1}{}', '\ufeff{}', '{"a":[}', '{"a":{]}',
  ])('refuses %j, as JSON.parse does', (text) => {
    expect(byJsonParse(text)).toBe('invalid');
    expect(byScanner(text)).toBe('invalid');
  });

  it('agrees with JSON.parse on 3,000 random bodies and on every one-byte mutation of 300 of them', () => {
    const rand = prng(20261128);
    // Bytes a mutation may insert. No raw control characters: inside a string JSON.parse refuses them, and the
    // scanner leaves that to the upstream (its one documented difference).
    const alphabet = ' {}[]",:\\-+.0123456789eEtrufalsnx';
    for (let i = 0; i < 3000; i++) {
      const text = randomBody(rand);
      expect(byScanner(text), text).toEqual(byJsonParse(text));
      // Mutate only compact bodies: a deleted quote could otherwise pull a newline into a string.
      if (i % 10 !== 0 || /[\t\n\r]/.test(text)) continue;
      for (let m = 0; m < 40; m++) {
        const at = Math.floor(rand() * (text.length + 1));
        const ch = alphabet[Math.floor(rand() * alphabet.length)]!;
        const kind = rand();
        const mutated = kind < 0.33 ? text.slice(0, at) + text.slice(at + 1) : kind < 0.66 ? text.slice(0, at) + ch + text.slice(at) : text.slice(0, at) + ch + text.slice(at + 1);
        expect(byScanner(mutated), mutated).toEqual(byJsonParse(mutated));
      }
    }
  });

  describe('with known bodies (a body ending like one already validated is not scanned there again)', () => {
    const claudeCode = readFileSync(new URL('../fixtures/claude-code-2.1.197-messages-body.json', import.meta.url), 'utf8');

    it('answers the next turn of a conversation as JSON.parse does, having scanned only what changed', () => {
      const known = new KnownBodies();
      const first = JSON.parse(claudeCode) as { messages: unknown[] };
      const firstText = JSON.stringify(first);
      expect(byScanner(firstText, known)).toEqual(byJsonParse(firstText));
      expect(known.hits).toBe(0);
      // The next turn: the same system prompt and tools after a longer conversation.
      const next = JSON.stringify({ ...first, messages: [...first.messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'and then?' }] });
      const suffixAt = next.indexOf(',"system"') + 1;
      expect(firstText.endsWith(next.slice(suffixAt))).toBe(true); // ~70 KB the scan can skip
      expect(byScanner(next, known)).toEqual(byJsonParse(next));
      expect(known.hits).toBe(1);
      // A next turn whose end differs from every known one (here: broken inside the tools) is scanned to the end.
      const broken = `${next.slice(0, suffixAt)}"system":[}${next.slice(next.indexOf(',"tools"'))}`;
      expect(byScanner(broken, known)).toBe('invalid');
      expect(known.hits).toBe(1);
    });

    it('takes model and stream from the known end when it sets them, from the new start when it does not', () => {
      const known = new KnownBodies(8, 0);
      const pad = 'x'.repeat(100);
      const cases: [string, string][] = [
        [`{"model":"a","messages":["${pad}"],"tools":[1],"stream":true}`, `{"model":"b","messages":["${pad}","more"],"tools":[1],"stream":true}`],
        [`{"model":"a","messages":[],"tools":[1],"model":"z"}`, `{"model":"b","messages":[2],"tools":[1],"model":"z"}`],
        [`{"stream":true,"messages":[],"tools":[1]}`, `{"stream":false,"messages":[3],"tools":[1]}`],
        [`{"model":"a","stream":true,"tools":[1],"stream":"no"}`, `{"model":"b","stream":true,"x":0,"tools":[1],"stream":"no"}`],
        [`{"tools":[1],"model":{"o":1}}`, `{"model":"b","tools":[1],"model":{"o":1}}`],
      ];
      for (const [seen, now] of cases) {
        expect(byScanner(seen, known)).toEqual(byJsonParse(seen));
        expect(byScanner(now, known), now).toEqual(byJsonParse(now));
      }
    });

    it('agrees with JSON.parse on 6,000 mutations of bodies it already knows', () => {
      // Every body is known (minBytes 0) before its mutations are read with the same memory, so the comparison
      // with a known end is tried at every top-level member of every mutation.
      const rand = prng(20261129);
      const alphabet = ' {}[]",:\\-+.0123456789eEtrufalsnx';
      const known = new KnownBodies(4, 0);
      let bodies = 0;
      while (bodies < 150) {
        const text = randomBody(rand);
        if (/[\t\n\r]/.test(text)) continue;
        bodies++;
        expect(byScanner(text, known), text).toEqual(byJsonParse(text));
        for (let m = 0; m < 40; m++) {
          const at = Math.floor(rand() * (text.length + 1));
          const ch = alphabet[Math.floor(rand() * alphabet.length)]!;
          const kind = rand();
          const mutated = kind < 0.25 ? text.slice(0, at) + text.slice(at + 1) : kind < 0.5 ? text.slice(0, at) + ch + text.slice(at) : kind < 0.75 ? text.slice(0, at) + ch + text.slice(at + 1) : `{"model":"m${m}",${text.slice(1)}`;
          expect(byScanner(mutated, known), mutated).toEqual(byJsonParse(mutated));
        }
      }
      expect(known.hits).toBeGreaterThan(3_000); // most mutations were answered in part from a known end
    });

    it('keeps only bodies in its size range, and at most as many as it is told', () => {
      const known = new KnownBodies(2, 20, 60);
      const body = (n: number, tail: string) => `{"m":"${'y'.repeat(n)}","t":"${tail}"}`;
      // Not kept: under 20 bytes, or over 60. Kept: the rest, two at most (c is pushed out by d and e).
      for (const [n, tail] of [[0, 'a'], [80, 'b'], [20, 'c'], [20, 'd'], [20, 'e']] as const) byScanner(body(n, tail), known);
      const knows = (tail: string) => {
        // A body of another start (within the size range) whose last member is the known body's.
        const before = known.hits;
        expect(byScanner(`{"zzzzzzzzzzzzzzzz":0,"t":"${tail}"}`, known)).toEqual({ model: undefined, stream: false, maxTokens: undefined });
        return known.hits > before;
      };
      // Known ends first: a probe that is not answered from memory is scanned and kept in turn.
      expect(['d', 'e', 'a', 'b', 'c'].map(knows)).toEqual([true, true, false, false, false]);
    });
  });

  it('handles nesting deeper than a recursive parser would like', () => {
    const deep = `{"model":"m","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(byScanner(deep)).toEqual({ model: 'm', stream: false, maxTokens: undefined });
    expect(byScanner(deep.slice(0, -2) + '}')).toBe('invalid');
  });
});

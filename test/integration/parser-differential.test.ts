import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateResponse, laxer, LlhttpOracle, mutate, prng, qccVerdict } from '../helpers/response-cases.js';

/**
 * qcc's upstream response parser against llhttp (Node's own parser, through a node:http client): on generated
 * responses and byte-level mutations of them, qcc must never complete a response llhttp refuses, nor frame one
 * differently — it may only be stricter. Seeded and bounded; a failure names its seed and case.
 */

const oracle = new LlhttpOracle();
beforeAll(() => oracle.start());
afterAll(() => oracle.close());

async function compare(seed: number, count: number, mutateIt: boolean): Promise<{ lax: string[]; stricter: number }> {
  const rand = prng(seed);
  const lax: string[] = [];
  let stricter = 0;
  for (let i = 0; i < count; i++) {
    const base = generateResponse(rand);
    const text = mutateIt ? mutate(base, rand) : base;
    const bytes = Buffer.from(text, 'latin1');
    const splits = [Math.floor(rand() * bytes.length), Math.floor(rand() * bytes.length)];
    const node = await oracle.verdict(bytes);
    for (const q of [qccVerdict(bytes), qccVerdict(bytes, splits)]) {
      const why = laxer(q, node);
      if (why) lax.push(`seed ${seed} case ${i}: ${why}\n  ${JSON.stringify(text).slice(0, 400)}`);
      // Refusing a head over MAX_HEAD_BYTES (1 KiB under llhttp's limit, by design) is not counted.
      else if (q.kind === 'error' && node.kind === 'complete' && !/response head longer than/.test(q.detail ?? '')) stricter++;
    }
  }
  return { lax, stricter };
}

describe('the upstream parser is at least as strict as llhttp', () => {
  it('agrees on 1,000 generated responses (none refused where llhttp reads them)', async () => {
    const { lax, stricter } = await compare(20261205, 1000, false);
    expect(lax).toEqual([]);
    expect(stricter).toBe(0); // well-formed answers: the same verdict, the same body
  }, 60_000);

  it('is never laxer on 3,000 mutated responses', async () => {
    const { lax } = await compare(7, 3000, true);
    expect(lax.slice(0, 5)).toEqual([]);
  }, 120_000);
});

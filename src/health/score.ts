import type { CheckResult } from './check.js';

/**
 * Quality score, 0–100, over the recent checks of one endpoint and model:
 *
 *   score = 100 × (0.4·availability + 0.3·correctness + 0.2·latency + 0.1·throughput)
 *
 *   availability  share of checks answered 200 with a complete stream
 *   correctness   share of checks whose answer echoed the nonce
 *   latency       median time-to-first-token: 1 at ≤ 1 s, falling linearly to 0 at 10 s
 *   throughput    median output tokens/s: 1 at ≥ 50, falling linearly to 0 at 0
 *
 * Latency and throughput count only checks that produced tokens; with none, they score 0. An endpoint's
 * score is the mean of its models' scores.
 */
export const SCORE_FORMULA =
  'score = 100 × (0.4·availability + 0.3·correctness + 0.2·latency + 0.1·throughput); availability = share of checks answered 200 with a complete stream; correctness = share echoing the nonce; latency = 1 at median TTFT ≤ 1 s → 0 at 10 s; throughput = 1 at median ≥ 50 tok/s → 0 at 0; endpoint score = mean over its models';

export const SCORE_WINDOW = 10;

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

export interface ScoreParts {
  score: number;
  availability: number;
  correctness: number;
  latency: number;
  throughput: number;
  samples: number;
}

export function scoreChecks(checks: readonly CheckResult[]): ScoreParts | undefined {
  const recent = checks.slice(-SCORE_WINDOW);
  if (recent.length === 0) return undefined;
  const availability = recent.filter((c) => c.status === 200 && (c.error === null || c.error.startsWith('wrong answer') || c.error === 'empty answer')).length / recent.length;
  const correctness = recent.filter((c) => c.correct).length / recent.length;
  const ttft = median(recent.filter((c) => c.ttft_ms !== null).map((c) => c.ttft_ms!));
  const tps = median(recent.filter((c) => c.tokens_per_s !== null).map((c) => c.tokens_per_s!));
  const latency = ttft === undefined ? 0 : clamp01(1 - (ttft - 1000) / 9000);
  const throughput = tps === undefined ? 0 : clamp01(tps / 50);
  const score = Math.round(100 * (0.4 * availability + 0.3 * correctness + 0.2 * latency + 0.1 * throughput));
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { score, availability: r(availability), correctness: r(correctness), latency: r(latency), throughput: r(throughput), samples: recent.length };
}

export function meanScore(scores: readonly number[]): number | undefined {
  if (scores.length === 0) return undefined;
  return Math.round(scores.reduce((a, b) => a + b, 0) / scores.length);
}

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FailureQueue, type QueuedEndpoint } from '../../src/endpoints/failure-queue.js';
import { EndpointRuntime } from '../../src/endpoints/endpoint.js';
import { endpointSchema } from '../../src/config/schema.js';

const runtime = (id: string) => new EndpointRuntime(endpointSchema.parse({ id, base_url: 'https://x.example' }));

beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
afterEach(() => vi.useRealTimers());

function queueWith(endpoints: EndpointRuntime[], check: (e: EndpointRuntime) => Promise<boolean>, persisted: QueuedEndpoint[][] = []) {
  const byId = new Map(endpoints.map((e) => [e.id, e]));
  return new FailureQueue(
    {
      now: () => Date.now(),
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
      check,
      lookup: (id) => byId.get(id),
      persist: (entries) => persisted.push(entries),
    },
    { initialBackoffMs: 1_000, maxBackoffMs: 8_000, concurrency: 2 },
  );
}

describe('FailureQueue', () => {
  it('restores a queued endpoint when its check passes, with a slow start', async () => {
    const e = runtime('a');
    e.breaker.open('connect', Date.now());
    const q = queueWith([e], async () => true);
    q.enqueue(e);
    expect(e.state(Date.now())).toBe('queued');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(q.has('a')).toBe(false);
    expect(e.state(Date.now())).toBe('healthy');
    expect(e.breaker.state).toBe('closed');
    expect(e.effectiveWeight(Date.now(), undefined)).toBeLessThan(0.2); // ramping up, not flooded
  });

  it('keeps a failing endpoint queued, checking with a growing, capped backoff', async () => {
    const e = runtime('a');
    const checkedAt: number[] = [];
    const q = queueWith([e], async () => {
      checkedAt.push(Date.now());
      return false;
    });
    q.enqueue(e);
    await vi.advanceTimersByTimeAsync(60_000);
    const gaps = checkedAt.slice(1).map((t, i) => t - checkedAt[i]!);
    expect(gaps.slice(0, 4)).toEqual([2_000, 4_000, 8_000, 8_000]);
    expect(q.has('a')).toBe(true);
    expect(e.queued).toBe(true);
  });

  it('runs at most `concurrency` checks at once across many endpoints, one per endpoint', async () => {
    const endpoints = Array.from({ length: 10 }, (_, i) => runtime(`e${i}`));
    let running = 0;
    let peak = 0;
    const perEndpoint = new Map<string, number>();
    const q = queueWith(endpoints, async (e) => {
      running++;
      peak = Math.max(peak, running);
      perEndpoint.set(e.id, (perEndpoint.get(e.id) ?? 0) + 1);
      expect(perEndpoint.get(e.id)).toBe(1); // never two checks of one endpoint at once
      await new Promise((r) => setTimeout(r, 500));
      perEndpoint.set(e.id, perEndpoint.get(e.id)! - 1);
      running--;
      return true;
    });
    for (const e of endpoints) q.enqueue(e);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(peak).toBe(2);
    expect(endpoints.every((e) => !q.has(e.id))).toBe(true);
  });

  it('persists its contents on every change', async () => {
    const e = runtime('a');
    const persisted: QueuedEndpoint[][] = [];
    const q = queueWith([e], async () => true, persisted);
    q.enqueue(e);
    expect(persisted.at(-1)).toEqual([{ id: 'a', since: 1_000_000, checks: 0 }]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(persisted.at(-1)).toEqual([]);
  });
});

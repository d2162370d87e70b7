import { describe, expect, it } from 'vitest';
import { Breaker, DEFAULT_BREAKER, type BreakerTransition } from '../../src/endpoints/breaker.js';

describe('Breaker', () => {
  it('opens after consecutive failures, half-opens after the open time, closes on a trial success', () => {
    const transitions: BreakerTransition[] = [];
    const b = new Breaker(DEFAULT_BREAKER, (t) => transitions.push(t));
    for (let i = 0; i < DEFAULT_BREAKER.consecutiveFailures - 1; i++) b.recordFailure('server', 0);
    expect(b.state).toBe('closed');
    b.recordFailure('server', 0);
    expect(b.state).toBe('open');
    expect(b.canServe(DEFAULT_BREAKER.baseOpenMs - 1)).toBe(false);
    expect(b.canServe(DEFAULT_BREAKER.baseOpenMs)).toBe(true);
    expect(b.state).toBe('half-open');
    b.beginTrial();
    expect(b.canServe(DEFAULT_BREAKER.baseOpenMs)).toBe(false); // one trial at a time
    b.recordSuccess();
    expect(b.state).toBe('closed');
    expect(transitions.map((t) => t.to)).toEqual(['open', 'half-open', 'closed']);
  });

  it('opens sooner on connect failures', () => {
    const b = new Breaker();
    for (let i = 0; i < DEFAULT_BREAKER.consecutiveConnectFailures; i++) b.recordFailure('connect', 0);
    expect(b.state).toBe('open');
  });

  it('opens on a failure rate over the window once the minimum sample is reached', () => {
    const b = new Breaker();
    // alternate: never 5 in a row, but 50 % failures
    for (let i = 0; i <= DEFAULT_BREAKER.minSamples; i++) {
      if (i % 2 === 0) b.recordFailure('server', 0);
      else b.recordSuccess();
    }
    expect(b.state).toBe('open');
  });

  it('open time grows with repeated ejections and is capped', () => {
    const b = new Breaker();
    let now = 0;
    const openFor: number[] = [];
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < DEFAULT_BREAKER.consecutiveFailures && b.state !== 'open'; i++) b.recordFailure('server', now);
      openFor.push(b.openUntil - now);
      now = b.openUntil;
      expect(b.canServe(now)).toBe(true); // half-open
      b.recordFailure('server', now); // the trial fails: straight back to open
      openFor.push(b.openUntil - now);
      now = b.openUntil;
      b.canServe(now);
      b.recordSuccess();
    }
    expect(openFor[1]).toBeGreaterThan(openFor[0]!);
    expect(Math.max(...openFor)).toBe(DEFAULT_BREAKER.maxOpenMs);
  });

  it('cools briefly on overload without growing the ejection count', () => {
    const b = new Breaker();
    b.recordFailure('overload', 1000);
    expect(b.state).toBe('open');
    expect(b.openUntil).toBe(1000 + DEFAULT_BREAKER.overloadOpenMs);
    expect(b.ejections).toBe(0);
  });

  it('reset (a passing check) closes it whatever its state', () => {
    const b = new Breaker();
    b.open('connect', 0);
    b.reset();
    expect(b.state).toBe('closed');
    expect(b.canServe(0)).toBe(true);
  });
});

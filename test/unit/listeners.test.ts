import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Listeners } from '../../src/server/listeners.js';

/** The same script of calls against Listeners and against Node's EventEmitter must leave the same trace. */
function trace(run: (on: (fn: () => void) => void, once: (fn: () => void) => void, off: (fn: () => void) => void, emit: () => void, log: string[]) => void) {
  const ours: string[] = [];
  const l = new Listeners();
  run((fn) => l.add(fn, false), (fn) => l.add(fn, true), (fn) => l.remove(fn), () => l.emit(), ours);
  const node: string[] = [];
  const e = new EventEmitter();
  run((fn) => e.on('x', fn), (fn) => e.once('x', fn), (fn) => e.off('x', fn), () => e.emit('x'), node);
  return { ours, node };
}

describe('response listeners (EventEmitter semantics for close and drain)', () => {
  it('runs listeners in order, once-listeners once, and keeps the others', () => {
    const { ours, node } = trace((on, once, _off, emit, log) => {
      on(() => log.push('a'));
      once(() => log.push('b'));
      on(() => log.push('c'));
      emit();
      emit();
    });
    expect(ours).toEqual(['a', 'b', 'c', 'a', 'c']);
    expect(ours).toEqual(node);
  });

  it('off removes the most recent registration of a function, and only that', () => {
    const { ours, node } = trace((on, once, off, emit, log) => {
      const f = () => log.push('f');
      on(f);
      on(() => log.push('g'));
      once(f);
      off(f);
      emit();
      off(() => undefined); // never added: nothing happens
      emit();
    });
    expect(ours).toEqual(['f', 'g', 'f', 'g']);
    expect(ours).toEqual(node);
  });

  it('a listener removing another during emit does not stop it this time; one added during emit waits for the next', () => {
    const { ours, node } = trace((on, _once, off, emit, log) => {
      const second = () => log.push('second');
      on(() => {
        log.push('first');
        off(second);
        on(() => log.push('late'));
      });
      on(second);
      emit();
      emit();
    });
    expect(ours).toEqual(node);
    expect(ours).toEqual(['first', 'second', 'first', 'late']);
  });

  it("a once-listener that throws is gone, and the error reaches emit's caller", () => {
    const l = new Listeners();
    let calls = 0;
    l.add(() => {
      calls++;
      throw new Error('boom');
    }, true);
    expect(() => l.emit()).toThrow('boom');
    l.emit();
    expect(calls).toBe(1);
    expect(l.count).toBe(0);
  });
});

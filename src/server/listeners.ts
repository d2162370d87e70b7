/**
 * The two events a FrontResponse has ('close' and 'drain'), without an EventEmitter: every response is made
 * with one and most have one or two listeners, so the emitter's construction and bookkeeping were a visible part
 * of a small request's cost. The semantics are EventEmitter's for these calls: listeners run in the order they
 * were added, a `once` listener is removed before it runs, `off` removes the most recently added registration of
 * that function, and what a listener throws reaches the caller of `emit`.
 */
export class Listeners {
  private fns: (() => void)[] = [];
  private onceFlags: boolean[] = [];

  add(fn: () => void, once: boolean): void {
    this.fns.push(fn);
    this.onceFlags.push(once);
  }

  remove(fn: () => void): void {
    const i = this.fns.lastIndexOf(fn);
    if (i === -1) return;
    this.fns.splice(i, 1);
    this.onceFlags.splice(i, 1);
  }

  get count(): number {
    return this.fns.length;
  }

  emit(): void {
    if (this.fns.length === 0) return;
    // Those present now run, even if one of them removes another (EventEmitter copies its list the same way).
    const fns = this.fns;
    const onceFlags = this.onceFlags;
    this.fns = [];
    this.onceFlags = [];
    for (let i = 0; i < fns.length; i++) {
      if (!onceFlags[i]) {
        this.fns.push(fns[i]!);
        this.onceFlags.push(false);
      }
    }
    for (const fn of fns) fn();
  }
}

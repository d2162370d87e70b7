/**
 * The client's response is one seat; a hedged request has two attempts that want it. Each attempt gets its own
 * `AttemptSeat`: it claims the seat when it has something the client can use (the first content event, or a
 * whole answer), and whichever claims first answers. The other is cancelled at that moment, synchronously, so it
 * never writes a byte and its upstream socket closes at once (the endpoint stops generating).
 */
export interface AttemptSeat {
  /** How to stop this attempt; it then settles as `cancelled`. Called by the attempt when it starts. */
  bind(cancel: () => void): void;
  /** May this attempt write to the client now? True for the first to ask, and from then on for it alone. */
  claim(): boolean;
}

export class ClientSeat {
  /** The attempt (by number) that holds the client, once one does. */
  winner: number | undefined;
  private readonly cancels = new Map<number, () => void>();

  /** `onClaim` runs once, when the first attempt claims the client (the handler stops its hedge timer there). */
  constructor(private readonly onClaim: (attempt: number) => void) {}

  for(attempt: number): AttemptSeat {
    return {
      bind: (cancel) => {
        if (this.winner !== undefined && this.winner !== attempt) cancel();
        else this.cancels.set(attempt, cancel);
      },
      claim: () => {
        if (this.winner !== undefined) return this.winner === attempt;
        this.winner = attempt;
        const others = [...this.cancels].filter(([n]) => n !== attempt);
        this.cancels.clear();
        for (const [, cancel] of others) cancel();
        this.onClaim(attempt);
        return true;
      },
    };
  }

  /** Stop one attempt that has not claimed the client (the request is over, or it lost). */
  cancel(attempt: number): void {
    const cancel = this.cancels.get(attempt);
    this.cancels.delete(attempt);
    cancel?.();
  }

  /** Stop every attempt still waiting (the client left, or another attempt answered with an error that ends the request). */
  cancelAll(): void {
    const all = [...this.cancels.values()];
    this.cancels.clear();
    for (const cancel of all) cancel();
  }
}

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
  /** At most two (an attempt and its hedge), so a list: no map or array made on the way to a claim. */
  private readonly waiting: { attempt: number; cancel: () => void }[] = [];

  /** `onClaim` runs once, when the first attempt claims the client (the handler stops its hedge deadline there). */
  constructor(private readonly onClaim: (attempt: number) => void) {}

  for(attempt: number): AttemptSeat {
    return new Place(this, attempt);
  }

  bind(attempt: number, cancel: () => void): void {
    if (this.winner !== undefined && this.winner !== attempt) cancel();
    else this.waiting.push({ attempt, cancel });
  }

  claim(attempt: number): boolean {
    if (this.winner !== undefined) return this.winner === attempt;
    this.winner = attempt;
    const waiting = this.waiting.splice(0);
    for (const w of waiting) if (w.attempt !== attempt) w.cancel();
    this.onClaim(attempt);
    return true;
  }

  /** Stop every attempt still waiting (the client left, or another attempt answered with an error that ends the request). */
  cancelAll(): void {
    for (const w of this.waiting.splice(0)) w.cancel();
  }
}

/** One attempt's view of the seat. */
class Place implements AttemptSeat {
  constructor(
    private readonly seat: ClientSeat,
    private readonly attempt: number,
  ) {}

  bind(cancel: () => void): void {
    this.seat.bind(this.attempt, cancel);
  }

  claim(): boolean {
    return this.seat.claim(this.attempt);
  }
}

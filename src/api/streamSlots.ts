/**
 * Live log streams held open at once, per principal and in all. Each open
 * stream costs a connection and a database poll every quarter second, so one
 * script or a hundred tabs must not take the web process down; past a cap the
 * caller is told when to come back (503 + Retry-After) and can read the paged
 * log meanwhile.
 */
export interface StreamLimits {
  perPrincipal: number;
  total: number;
}

export type SlotAnswer = { release: () => void } | { refused: string };

export class StreamSlots {
  readonly #byPrincipal = new Map<string, number>();
  #total = 0;

  constructor(private readonly limits: StreamLimits) {}

  acquire(principal: string): SlotAnswer {
    const mine = this.#byPrincipal.get(principal) ?? 0;
    if (mine >= this.limits.perPrincipal) {
      return { refused: `you have ${mine} live log streams open, the most one person or token may hold` };
    }
    if (this.#total >= this.limits.total) {
      return { refused: `the service holds ${this.#total} live log streams, as many as it serves at once` };
    }
    this.#byPrincipal.set(principal, mine + 1);
    this.#total++;
    let released = false;
    return {
      release: () => {
        // Abort and the stream's own end may both release: count once.
        if (released) return;
        released = true;
        this.#total--;
        const left = (this.#byPrincipal.get(principal) ?? 1) - 1;
        if (left > 0) this.#byPrincipal.set(principal, left);
        else this.#byPrincipal.delete(principal);
      },
    };
  }

  get open(): number {
    return this.#total;
  }
}

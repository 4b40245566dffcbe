/**
 * A Jepsen-style total-queue checker. Clients record what they did; the checker compares what
 * was acknowledged with what came out:
 *   - lost: acknowledged puts (the commit resolved) never received, and not left on the queue;
 *   - unexpected: messages received that no client ever attempted to put;
 *   - duplicated: messages received more than once by committed gets;
 *   - reordered: within one producer, a message received by a consumer after a later one of the
 *     same producer, by the same consumer (backouts make some legitimate; reported, not judged);
 *   - indeterminate puts (the commit's outcome unknown: the connection broke) and indeterminate
 *     gets (a message gotten whose commit's outcome is unknown) may go either way.
 */
export interface CheckResult {
  attempted: number;
  acknowledged: number;
  received: number;
  lost: number;
  unexpected: number;
  duplicated: number;
  reordered: number;
  indeterminatePuts: number;
  indeterminateGets: number;
  lostFraction: number;
  duplicatedFraction: number;
  /** A few of each anomaly, for the failure message. */
  examples: { lost: string[]; unexpected: string[]; duplicated: string[] };
}

export class QueueHistory {
  readonly #attempted = new Set<string>();
  readonly #acknowledged = new Set<string>();
  readonly #indeterminatePuts = new Set<string>();
  readonly #received = new Map<string, number>();
  readonly #indeterminateGets = new Set<string>();
  readonly #lastByConsumer = new Map<string, number>();
  #reordered = 0;

  /** A put is about to be made (its id is `producer:sequence`). */
  attempt(id: string): void {
    this.#attempted.add(id);
  }

  /** How many puts were acknowledged so far. */
  get acknowledgedCount(): number {
    return this.#acknowledged.size;
  }

  /** The put's unit committed: acknowledged. */
  acknowledge(id: string): void {
    this.#acknowledged.add(id);
  }

  /** The put's outcome is unknown (its connection broke before the commit answered). */
  indeterminate(id: string): void {
    this.#indeterminatePuts.add(id);
  }

  /** A get whose unit committed. */
  receive(id: string, consumer = 'drain'): void {
    this.#received.set(id, (this.#received.get(id) ?? 0) + 1);
    const [producer, sequence] = id.split(':') as [string, string];
    const key = `${consumer}/${producer}`;
    const last = this.#lastByConsumer.get(key) ?? -1;
    if (Number(sequence) < last) this.#reordered++;
    else this.#lastByConsumer.set(key, Number(sequence));
  }

  /** A message gotten whose commit's outcome is unknown. */
  receiveIndeterminate(id: string): void {
    this.#indeterminateGets.add(id);
  }

  check(): CheckResult {
    const lost: string[] = [];
    for (const id of this.#acknowledged) {
      if (!this.#received.has(id) && !this.#indeterminateGets.has(id)) lost.push(id);
    }
    const unexpected = [...this.#received.keys()].filter((id) => !this.#attempted.has(id));
    const duplicated = [...this.#received].filter(([, count]) => count > 1).map(([id]) => id);
    const acknowledged = this.#acknowledged.size;
    return {
      attempted: this.#attempted.size, acknowledged,
      received: [...this.#received.values()].reduce((sum, n) => sum + n, 0),
      lost: lost.length, unexpected: unexpected.length, duplicated: duplicated.length,
      reordered: this.#reordered, indeterminatePuts: this.#indeterminatePuts.size,
      indeterminateGets: this.#indeterminateGets.size,
      lostFraction: acknowledged === 0 ? 0 : lost.length / acknowledged,
      duplicatedFraction: acknowledged === 0 ? 0 : duplicated.length / acknowledged,
      examples: { lost: lost.slice(0, 5), unexpected: unexpected.slice(0, 5), duplicated: duplicated.slice(0, 5) },
    };
  }
}

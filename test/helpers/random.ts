/**
 * A seeded xorshift32 generator: randomised tests print their seed and replay from it.
 */

export class Random {
  #x: number;

  constructor(seed: number) {
    this.#x = (seed >>> 0) || 0x9e3779b9;
  }

  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x >>> 0;
    return this.#x;
  }

  below(n: number): number {
    return this.next() % n;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}

/**
 * What the benchmarks share: their common options, a fresh LUN file, a growable recorder of
 * latencies, percentiles and number format.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Options every benchmark takes. */
export interface BenchOptions {
  lun: string;
  sizeGiB: number;
  seconds: number;
  direct: boolean;
  keep: boolean;
  only: string | undefined;
}

/** Removes the benchmark's own LUN file from an earlier run; refuses anything but a file. */
export async function freshLunPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const existing = await stat(path).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) {
    throw new Error(`--lun ${path} is not a regular file; the benchmark formats (and ` +
      'removes) a file of its own');
  }
  await rm(path, { force: true });
}

export class Recorder {
  #values = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }
  values(): Float64Array {
    return this.#values.slice(0, this.length);
  }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] as number;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

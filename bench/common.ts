/**
 * What the benchmarks share: their common options, a fresh LUN file and a controller on it,
 * the disk's limits measured through a LUN, closed loops of operations, a growable recorder of
 * latencies, percentiles and number format.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

import { Controller, type Lun } from '../src/index.js';

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

/** A controller on a fresh, prefilled LUN of `sizeGiB` at `lun` (as the scenarios find it). */
export async function freshController(options: BenchOptions): Promise<Controller> {
  await freshLunPath(options.lun);
  return Controller.mount(options.lun, {
    create: { sizeBytes: options.sizeGiB * 1024 ** 3, prefill: true, casSlots: 16, label: 'bench' },
    lun: { direct: options.direct },
  });
}

/** The disk's limits: durable 4 KiB writes per second, and sequential durable bytes per second. */
export interface Limits {
  syncRate: number;
  seqRate: number;
}

/** Measures the disk under `lun` through the LUN's own file descriptor, and prints it. */
export async function diskLimits(lun: Lun): Promise<Limits> {
  const disk = await lun.measureDisk({ durationMs: 2000 });
  const limits = { syncRate: disk.fdatasyncPerSecond, seqRate: disk.sequentialBytesPerSecond };
  console.log(`disk: 4 KiB write+fdatasync ${fmt(limits.syncRate)} ops/s ` +
    `(p50 ${fmt(disk.fdatasyncP50Us)} µs, p99 ${fmt(disk.fdatasyncP99Us)} µs); ` +
    `1 MiB write+fdatasync ${fmt(limits.seqRate / 2 ** 20)} MiB/s`);
  return limits;
}

/** What a closed loop did: operations, wall time, and each operation's latency (µs, sorted). */
export interface LoopResult {
  count: number;
  seconds: number;
  latencies: Float64Array;
}

/**
 * Runs `operation` in a closed loop on each of `workers` (the next once the previous one
 * resolved) until `seconds` are up or `countMax` operations are done.
 */
export async function closedLoop(workers: number, seconds: number, countMax: number,
  operation: (worker: number) => Promise<void>): Promise<LoopResult> {
  const latencies = new Recorder();
  let count = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async (worker: number) => {
    while (performance.now() < deadline && count < countMax) {
      const t0 = performance.now();
      await operation(worker);
      latencies.push((performance.now() - t0) * 1000);
      count++;
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, worker) => loop(worker)));
  const elapsed = (performance.now() - started) / 1000;
  return { count, seconds: elapsed, latencies: latencies.values().sort() };
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

/**
 * A counter kept in one compare-and-swap slot, for the CAS tests across processes and worker
 * threads: each increment reads the slot, parses the counter and swaps in counter + 1, and
 * retries when another opener swapped first. The image is the counter (u32 LE at 0) and the
 * incrementer's id (u32 LE at 4), zeros after: a never-written slot reads as counter 0.
 */
import type { SlotTable } from '../../src/index.js';

export interface CounterRun {
  increments: number;
  /** Swaps that returned false because another opener got there first. */
  retries: number;
  startedAtMs: number;
  endedAtMs: number;
}

export function counterOf(image: Buffer): number {
  return image.readUInt32LE(0);
}

export function counterImage(slotBytes: number, counter: number, id: number): Buffer {
  const image = Buffer.alloc(slotBytes);
  image.writeUInt32LE(counter, 0);
  image.writeUInt32LE(id >>> 0, 4);
  return image;
}

/**
 * Adds `count` to the counter in `slot`, one swap at a time. Bounded: at most 50 attempts per
 * increment on average and `timeoutMs` in all; throws when either runs out.
 */
export async function incrementCounter(
  table: SlotTable,
  slot: number,
  count: number,
  id: number,
  timeoutMs: number,
): Promise<CounterRun> {
  const startedAtMs = Date.now();
  const deadline = startedAtMs + timeoutMs;
  const attemptsMax = count * 50;
  let increments = 0;
  let retries = 0;
  for (let attempt = 0; increments < count; attempt++) {
    if (attempt >= attemptsMax || Date.now() > deadline) {
      throw new Error(`gave up after ${attempt} attempts and ${Date.now() - startedAtMs} ms ` +
        `with ${increments} of ${count} increments`);
    }
    const before = await table.read(slot);
    const after = counterImage(table.slotBytes, counterOf(before) + 1, id);
    if (await table.cas(slot, before, after)) increments++;
    else retries++;
  }
  return { increments, retries, startedAtMs, endedAtMs: Date.now() };
}

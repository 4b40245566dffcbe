/**
 * Compare-and-swap across worker threads of one process: two workers each attach the LUN
 * themselves, so each has its own open file description and the slot's byte-range locks
 * exclude them from each other as they would two processes; each adds 20,000 to a counter in
 * one slot and not one increment may be lost. Workers run test/fixtures/cas-worker.ts.
 */
import type { Worker } from 'node:worker_threads';

import t from 'tap';

import { Lun } from '../src/index.js';
import { counterOf, type CounterRun } from './helpers/cas.js';
import { freshLun, startWorker } from './helpers/lun.js';

const INCREMENTS = 20_000;

/** Resolves with the worker's one message once it has exited cleanly. */
function result(worker: Worker, timeoutMs: number): Promise<CounterRun & { threadId: number }> {
  return new Promise((resolve, reject) => {
    let message: (CounterRun & { threadId: number }) | undefined;
    const timer = setTimeout(
      () => reject(new Error(`no result within ${timeoutMs} ms`)), timeoutMs);
    worker.on('message', (value: CounterRun & { threadId: number }) => (message = value));
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0 && message !== undefined) resolve(message);
      else reject(new Error(`the worker exited with ${code} ${message ? '' : 'without a result'}`));
    });
  });
}

t.test('2 worker threads × 20,000 swapped increments of one slot end at exactly 40,000',
  async (t) => {
    t.setTimeout(150_000);
    const { path } = await freshLun(t);
    const slot = 7;
    const startAtMs = Date.now() + 3_000;
    const workers = [0, 1].map(() =>
      startWorker('cas-worker.ts', { path, slot, count: INCREMENTS, startAtMs }));
    const running = new Set(workers);
    for (const worker of workers) worker.once('exit', () => running.delete(worker));
    t.teardown(async () => {
      for (const worker of running) await worker.terminate();
    });
    const runs = await Promise.all(workers.map((worker) => result(worker, 120_000)));
    for (const run of runs) {
      t.equal(run.increments, INCREMENTS, `thread ${run.threadId} made ${INCREMENTS} increments`);
      t.comment(`thread ${run.threadId}: ${run.retries} retries, ` +
        `${run.endedAtMs - run.startedAtMs} ms`);
    }
    const [first, second] = runs;
    t.ok(first !== undefined && second !== undefined &&
      first.startedAtMs < second.endedAtMs && second.startedAtMs < first.endedAtMs,
    'the two threads ran at the same time');
    const lun = await Lun.open(path, { readOnly: true });
    t.teardown(() => lun.close());
    t.equal(counterOf(await lun.slots.read(slot)), 2 * INCREMENTS, 'the counter is exactly 40,000');
  });

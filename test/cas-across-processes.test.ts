/**
 * Compare-and-swap across processes: two processes, one holding the LUN as its writer and one
 * attached with Lun.attach(), each add 20,000 to a counter kept in one slot (read, parse,
 * swap in counter + 1, retry when beaten); not one increment may be lost. The negative control
 * shows what makes that hold: a swap from a stale before-image returns false and changes
 * nothing. Processes run test/fixtures/cas-increment.ts.
 */
import t from 'tap';

import { Lun } from '../src/index.js';
import { counterImage, counterOf, type CounterRun } from './helpers/cas.js';
import { freshLun, runFixture } from './helpers/lun.js';

const INCREMENTS = 20_000;

t.test('2 processes × 20,000 swapped increments of one slot end at exactly 40,000', async (t) => {
  t.setTimeout(150_000);
  const { path } = await freshLun(t);
  const slot = 5;
  // Both start at the same wall-clock time, after their loaders and opens are done.
  const startAtMs = Date.now() + 5_000;
  const args = (mode: string) => [path, String(slot), String(INCREMENTS), mode, String(startAtMs)];
  const outputs = await Promise.all([
    runFixture('cas-increment.ts', args('writer'), 120_000),
    runFixture('cas-increment.ts', args('attach'), 120_000),
  ]);
  const runs = outputs.map((out) => JSON.parse(out) as CounterRun & { pid: number; mode: string });
  for (const run of runs) {
    t.equal(run.increments, INCREMENTS, `the ${run.mode} process made ${INCREMENTS} increments`);
    t.comment(`${run.mode} (pid ${run.pid}): ${run.retries} retries, ` +
      `${run.endedAtMs - run.startedAtMs} ms`);
  }
  const [first, second] = runs;
  t.ok(first !== undefined && second !== undefined &&
    first.startedAtMs < second.endedAtMs && second.startedAtMs < first.endedAtMs,
  'the two processes ran at the same time');
  const attached = await Lun.attach(path);
  t.teardown(() => attached.close());
  t.equal(counterOf(await attached.read(slot)), 2 * INCREMENTS, 'the counter is exactly 40,000');
  t.same(await attached.read(slot + 1), Buffer.alloc(attached.slotBytes),
    'the next slot is untouched');
});

t.test('a swap from a stale before-image returns false and changes nothing', async (t) => {
  const { path } = await freshLun(t);
  // Two attachments are two open file descriptions, as two processes would have.
  const mine = await Lun.attach(path);
  const theirs = await Lun.attach(path);
  t.teardown(async () => {
    await mine.close();
    await theirs.close();
  });
  const slot = 2;
  const stale = await mine.read(slot);
  t.equal(counterOf(stale), 0);
  const theirImage = counterImage(theirs.slotBytes, 1, 2);
  t.equal(await theirs.cas(slot, stale, theirImage), true, 'the other opener swaps first');
  const myImage = counterImage(mine.slotBytes, 1, 1);
  t.equal(await mine.cas(slot, stale, myImage), false, 'the stale swap is refused');
  t.same(await mine.read(slot), theirImage, 'the slot keeps the other opener\'s image');
  t.same(await theirs.read(slot), theirImage);
  const fresh = await mine.read(slot);
  t.equal(await mine.cas(slot, fresh, counterImage(mine.slotBytes, 2, 1)), true,
    'a swap from the fresh image succeeds');
  t.equal(counterOf(await theirs.read(slot)), 2, 'no increment was lost');
});

/**
 * Reclaiming space in the log: a full LUN, segments freed and reused after releases, long runs
 * of append and release over a LUN much smaller than what is written, compaction of sparse
 * segments (moved records keep their data and sequence, emptied segments are freed, all of it
 * across a reopen), and the space accounting that space() and the recovery report give.
 */
import { copyFile } from 'node:fs/promises';

import t from 'tap';

import { Lun, type CrashMode, type FormatOptions } from '../src/index.js';
import { freshLun, readBytes } from './helpers/lun.js';
import {
  descriptorOf,
  paddedRecordBytes,
  payload,
  readPageSet,
  segmentOf,
  segmentStart,
  waitFor,
} from './helpers/log.js';

/** About 29 segments of 64 KiB: small enough to fill in a few dozen appends. */
const TINY: FormatOptions = { sizeBytes: 2 * 1024 * 1024, segmentBytes: 64 * 1024, casSlots: 4 };

/** Appends `perAppend` records of `bytes` each until the LUN rejects; returns what it holds. */
async function fill(lun: Lun, pageSet: number, perAppend: number, bytes: number) {
  const addresses: number[] = [];
  const appendsMax = lun.geometry.segmentCount * 16;
  for (let i = 0; i < appendsMax; i++) {
    const records = Array.from({ length: perAppend }, (_, k) => payload(bytes, i * 100 + k));
    try {
      addresses.push(...(await lun.append(pageSet, records)));
    } catch (error) {
      return { addresses, error: error as { code?: string } };
    }
  }
  throw new Error(`the LUN took ${appendsMax} appends without filling up`);
}

t.test('a full LUN accepts the release of all its records and then appends again', async (t) => {
  const { path } = await freshLun(t, TINY);
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  t.teardown(() => lun.close());
  // Each append of 15 × 4000 bytes fills one segment.
  const full = await fill(lun, 1, 15, 4000);
  t.equal(full.error.code, 'E_LUN_FULL');
  const reserved = lun.space().reservedSegments;
  t.ok(reserved > 0, 'a reserve is kept for releases');
  t.equal(lun.space().freeSegments, reserved, 'full means only the reserve is free');
  const release =
    await lun.release(full.addresses).then(() => undefined, (error: unknown) => error);
  t.equal(release, undefined, 'releasing every record of a full LUN succeeds');
  if (release !== undefined) return;
  const segmentCount = lun.geometry.segmentCount;
  t.ok(await waitFor(() => lun.space().freeSegments >= segmentCount - 1),
    'every segment but the tail is free again');
  t.ok(lun.stats().frees >= segmentCount - 1 - reserved, 'the writer counted the frees');
  const again = await fill(lun, 1, 15, 4000);
  t.ok(again.addresses.length >= full.addresses.length - 15, 'the LUN takes as much again');
});

t.test('releases that fit beside the tail of a full LUN free its segments for reuse', async (t) => {
  const { path } = await freshLun(t, TINY);
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  t.teardown(() => lun.close());
  // Appends of 5 blocks: three fill 15 of a segment's 16 blocks, leaving one for releases.
  const full = await fill(lun, 1, 5, 4000);
  t.equal(full.error.code, 'E_LUN_FULL');
  t.equal(lun.space().freeSegments, lun.space().reservedSegments);
  const bySegment = new Map<number, number[]>();
  for (const address of full.addresses) {
    const segment = segmentOf(lun.geometry, address);
    bySegment.set(segment, [...(bySegment.get(segment) ?? []), address]);
  }
  // One segment's records at a time, each release waiting for the free the previous one made
  // (see the next test for what happens without the wait).
  const batches = [...bySegment.values()];
  for (const [i, addresses] of batches.entries()) {
    const frees = lun.stats().frees;
    await lun.release(addresses);
    if (i + 1 < batches.length) await waitFor(() => lun.stats().frees > frees, 1000);
  }
  t.ok(await waitFor(() => lun.space().freeSegments >= lun.geometry.segmentCount - 2),
    `segments are free again (${lun.space().freeSegments} of ${lun.geometry.segmentCount})`);
  t.ok(lun.stats().frees > 0, 'stats() counts the frees');
  t.equal(lun.space().liveRecords, 0);
  const again = await fill(lun, 1, 5, 4000);
  t.equal(again.error.code, 'E_LUN_FULL');
  t.ok(again.addresses.length >= full.addresses.length - 15, 'the freed segments are reused');
});

/**
 * One flush holds one chunk per page set, so of a release and an append submitted together the
 * append waits for the next flush; by then the release has emptied a segment, which that very
 * flush frees. The append must get that segment (or wait for it), not E_LUN_FULL.
 */
t.test('an append submitted with the release that empties a segment of a full LUN succeeds',
  async (t) => {
    const { path } = await freshLun(t, TINY);
    const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
    t.teardown(() => lun.close());
    const full = await fill(lun, 1, 5, 4000);
    t.equal(full.error.code, 'E_LUN_FULL');
    const first = segmentOf(lun.geometry, full.addresses[0] as number);
    const emptied = full.addresses.filter((a) => segmentOf(lun.geometry, a) === first);
    const records = Array.from({ length: 5 }, (_, k) => payload(4000, 9000 + k));
    const [released, appended] = await Promise.allSettled(
      [lun.release(emptied), lun.append(1, records)]);
    t.equal(released?.status, 'fulfilled', 'the release fits beside the tail');
    const outcome = appended?.status === 'fulfilled'
      ? 'appended' : (appended?.reason as { code?: string }).code;
    t.equal(outcome, 'appended', 'the append gets the segment the release emptied');
  });

t.test('cycles of append and release over a small LUN never run out of space', async (t) => {
  const { path } = await freshLun(t, TINY);
  const lun = await Lun.open(path);
  const logBytes = lun.geometry.segmentCount * lun.geometry.segmentBytes;
  const cyclesMax = 1500;
  const deadline = Date.now() + 30_000;
  let written = 0;
  // Page set 1 releases inside its appends; page set 2 releases separately.
  let previous = new Map<number, number[]>([[1, []], [2, []]]);
  let latest = new Map<number, Buffer[]>();
  let cycle = 0;
  for (; cycle < cyclesMax && Date.now() < deadline; cycle++) {
    const next = new Map<number, number[]>();
    latest = new Map();
    for (const pageSet of [1, 2]) {
      const records = Array.from({ length: 6 }, (_, k) => payload(3000, cycle * 10 + k));
      const old = previous.get(pageSet) ?? [];
      const addresses = pageSet === 1 && old.length > 0
        ? await lun.append(pageSet, records, { release: old })
        : await lun.append(pageSet, records);
      if (pageSet === 2 && old.length > 0) await lun.release(old);
      next.set(pageSet, addresses);
      latest.set(pageSet, records);
      written += records.length * paddedRecordBytes(3000);
    }
    previous = next;
  }
  t.equal(cycle, cyclesMax, `all ${cyclesMax} cycles ran within the time limit`);
  t.ok(written > 10 * logBytes, `wrote ${written} bytes through a log of ${logBytes}`);
  t.ok(lun.stats().frees > lun.geometry.segmentCount,
    `segments were reused (${lun.stats().frees} frees)`);
  await lun.close();
  const again = await Lun.open(path);
  t.teardown(() => again.close());
  t.same(again.recovery.corruptions, []);
  for (const pageSet of [1, 2]) {
    const listed = await readPageSet(again, pageSet);
    t.same(listed.map((r) => r.data), latest.get(pageSet),
      `page set ${pageSet} holds exactly the last cycle's records`);
  }
});

/** Six segments of page set 1, each one append of 16 records of 3000 bytes. */
async function sixSegments(lun: Lun): Promise<number[][]> {
  const segments: number[][] = [];
  for (let s = 0; s < 6; s++) {
    const records = Array.from({ length: 16 }, (_, k) => payload(3000, s * 100 + k));
    segments.push(await lun.append(1, records));
  }
  const used = new Set(segments.map((a) => segmentOf(lun.geometry, a[0] as number)));
  if (used.size !== 6) throw new Error(`expected six segments, got ${used.size}`);
  return segments;
}

t.test('compaction moves the live records of sparse segments and frees them', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  const segments = await sixSegments(lun);
  // Keep two records in each of the first four segments: they become sparse.
  const keep = new Set(segments.slice(0, 4).flatMap((a) => [a[3] as number, a[11] as number]));
  await lun.release(segments.slice(0, 4).flat().filter((a) => !keep.has(a)));
  const before = await readPageSet(lun, 1);
  const victims = segments.slice(0, 4).map((a) => segmentOf(lun.geometry, a[0] as number));
  const generations = new Map(lun.space().segments.map((s) => [s.index, s.generation]));
  const usedBefore = lun.space().usedSegments;
  const allocationsBefore = lun.stats().allocations;

  const result = await lun.compact({ pageSet: 1 });
  t.same(result.moved.map((m) => m.from).sort((a, b) => a - b), [...keep].sort((a, b) => a - b),
    'exactly the live records of the sparse segments moved');
  t.same([...result.segments].sort((a, b) => a - b), victims, 'the sparse segments are emptied');
  t.same(result.unreadable, []);
  const dataAt = new Map(before.map((r) => [r.address, r.data]));
  for (const { from, to } of result.moved) {
    t.not(segmentOf(lun.geometry, to), segmentOf(lun.geometry, from), 'moved to another segment');
    t.same(await lun.read(to), dataAt.get(from), `the record of ${from} reads at ${to}`);
  }
  const forward = new Map(result.moved.map((m) => [m.from, m.to]));
  const expected = before.map((r) => ({ ...r, address: forward.get(r.address) ?? r.address }));
  t.same(await readPageSet(lun, 1), expected, 'records() keeps seq order, data and new addresses');

  t.ok(await waitFor(() => lun.space().segments.every((s) => !victims.includes(s.index) ||
    s.generation !== generations.get(s.index))), 'the emptied segments are freed');
  const allocated = lun.stats().allocations - allocationsBefore;
  t.equal(lun.space().usedSegments, usedBefore - victims.length + allocated,
    'used segments drop by the victims, less what compaction allocated');
  const usedAfter = lun.space().usedSegments;
  await lun.close();

  const again = await Lun.open(path);
  t.teardown(() => again.close());
  t.same(again.recovery.corruptions, []);
  t.equal(again.recovery.movedCopies, keep.size, 'recovery finds every moved copy');
  t.same(await readPageSet(again, 1), expected, 'after reopen: same records, seq, data');
  t.equal(again.space().usedSegments, usedAfter, 'the freed segments stay free after reopen');
});

/**
 * Crashes at every write and sync of a compaction and of the frees after it, with unsynced
 * writes dropped, applied or torn: after recovery every live record is there exactly once,
 * with its seq and data, and nothing released comes back.
 */
t.test('a compaction interrupted by a crash at any I/O loses and duplicates nothing',
  async (t) => {
    const { path: pristine } = await freshLun(t, TINY);
    const setup = await Lun.open(pristine, { prefillSegmentsAhead: 0 });
    const segments = await sixSegments(setup);
    const keep = new Set(segments.slice(0, 4).flatMap((a) => [a[3] as number, a[11] as number]));
    await setup.release(segments.slice(0, 4).flat().filter((a) => !keep.has(a)));
    const expected = (await readPageSet(setup, 1)).map((r) => [r.seq, r.data.toString('hex')]);
    await setup.close();
    const path = `${pristine}.run`;
    await copyFile(pristine, path);
    const probe = await Lun.open(path, { faults: { seed: 1 }, prefillSegmentsAhead: 0 });
    const opening = probe.faults?.counters().mutations ?? 0;
    const moved = (await probe.compact({ pageSet: 1 })).moved.length;
    t.equal(moved, keep.size, 'the compaction moves the kept records');
    t.ok(await waitFor(() => probe.space().segments.every((s) => !s.freeing) &&
      probe.space().usedSegments <= 4), 'and frees the victims');
    const mutations = (probe.faults?.counters().mutations ?? 0) - opening;
    await probe.close();
    let runs = 0;
    for (const mode of ['drop', 'apply', 'tear'] as CrashMode[]) {
      for (let k = 1; k <= mutations; k++) {
        await copyFile(pristine, path);
        const lun = await Lun.open(path, {
          faults: { seed: k, crashAtMutation: opening + k, crashMode: mode },
          prefillSegmentsAhead: 0,
        });
        const outcome = await lun.compact({ pageSet: 1 }).then(() => 'done',
          (error: { code?: string }) => error.code);
        await waitFor(() => lun.faults?.counters().crashed === true, 1000);
        await lun.close();
        const again = await Lun.open(path).catch((error: Error) => error);
        if (again instanceof Error) {
          t.fail(`${mode} at ${k} (${outcome}): reopen failed: ${again.message}`);
          continue;
        }
        const listed = (await readPageSet(again, 1)).map((r) => [r.seq, r.data.toString('hex')]);
        await again.close();
        runs++;
        if (JSON.stringify(listed) !== JSON.stringify(expected)) {
          t.fail(`${mode} at mutation ${k} (${outcome}): ${listed.length} records listed, ` +
            `expected ${expected.length}`);
        }
      }
    }
    t.equal(runs, 3 * mutations, `${runs} crash runs recovered every record exactly once`);
  });

t.test('compaction of a LUN without sparse segments moves nothing', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  const segments = await sixSegments(lun);
  // One record released per segment leaves them dense.
  await lun.release(segments.slice(0, 5).map((a) => a[0] as number));
  const before = await readPageSet(lun, 1);
  const result = await lun.compact();
  t.same(result, { moved: [], segments: [], unreadable: [] });
  t.same(await readPageSet(lun, 1), before);
});

/**
 * A segment is "prefilled" once every one of its blocks has been written, so that the log
 * overwrites allocated blocks instead of paying for first writes. Being used and freed does
 * not undo that: its blocks stay allocated. A segment the log used before it was prefilled
 * is prefilled by the background thread once it is free again.
 */
t.test('a prefilled segment stays prefilled after use, and one used without prefill is ' +
  'prefilled once freed', async (t) => {
  const { path, geometry } = await freshLun(t, TINY);
  // No prefill at first: the first segment is used with unwritten blocks.
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  const [first] = await lun.append(1, payload(60_000, 1));
  const used = segmentOf(geometry, first as number);
  await lun.append(1, payload(60_000, 2), { release: [first as number] });
  t.ok(await waitFor(() => lun.space().segments.every((s) => s.index !== used)),
    'the first segment is freed');
  await lun.close();
  t.equal((await descriptorOf(path, geometry, used)).flags & 1, 0,
    'used without prefill, it is not marked prefilled');
  // With prefill on, the freed segment is zero-filled and marked in the background.
  const again = await Lun.open(path, { prefillSegmentsAhead: geometry.segmentCount });
  t.ok(await waitFor(() => lun.closed && again.space().prefilledFreeSegments >=
    again.space().freeSegments, 5000), 'every free segment gets prefilled');
  await again.close();
  const descriptor = await descriptorOf(path, geometry, used);
  t.equal(descriptor.flags & 1, 1, 'the freed segment is now marked prefilled');
  const zero = (await readBytes(path, segmentStart(geometry, used), geometry.segmentBytes))
    .every((byte) => byte === 0);
  t.ok(zero, 'and its bytes are zero');
});

t.test('space() counts live bytes, live records and used segments through releases', async (t) => {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  const sizes = [0, 1, 100, 4000, 4097, 20_000, 30_000, 64];
  const live = new Map<number, number>();  // address -> payload bytes
  for (const pageSet of [1, 2]) {
    for (const size of sizes) {
      const [address] = await lun.append(pageSet, payload(size, size));
      live.set(address as number, size);
    }
  }
  const check = (space: { liveBytes: number; liveRecords: number; usedSegments: number },
    what: string) => {
    const bytes = [...live.values()].reduce((sum, size) => sum + paddedRecordBytes(size), 0);
    t.equal(space.liveBytes, bytes, `${what}: live bytes`);
    t.equal(space.liveRecords, live.size, `${what}: live records`);
  };
  check(lun.space(), 'after appends');
  const used = new Set([...live.keys()].map((a) => segmentOf(geometry, a)));
  t.equal(lun.space().usedSegments, used.size, 'one used segment per segment holding records');
  t.equal(lun.space().freeSegments, geometry.segmentCount - used.size);
  const perSegment = lun.space().segments.reduce((sum, s) => sum + s.liveBytes, 0);
  t.equal(perSegment, lun.space().liveBytes, 'per-segment live bytes add up');

  const released = [...live.keys()].filter((_, i) => i % 3 === 0);
  await lun.release(released);
  for (const address of released) live.delete(address);
  check(lun.space(), 'after releases');
  await lun.close();

  const again = await Lun.open(path);
  t.teardown(() => again.close());
  check(again.space(), 'after reopen');
  check(again.recovery, 'in the recovery report');
  t.equal(again.recovery.usedSegments, again.space().usedSegments);
});

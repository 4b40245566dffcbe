/**
 * Appending to the log and reading back: round trips of records from 0 B to 1 MiB, before and
 * after a reopen; addresses and sequence numbers; records() order; independent page sets;
 * releases, alone and inside an append (atomic with its records, checked across crashes); and
 * the rejections of bad releases and of appends too large for a segment.
 */
import { copyFile } from 'node:fs/promises';

import t from 'tap';

import { Lun, type CrashMode, type FormatOptions } from '../src/index.js';
import { freshLun, SMALL } from './helpers/lun.js';
import {
  offsetOf,
  paddedRecordBytes,
  payload,
  readPageSet,
  rejectionOf,
  waitFor,
} from './helpers/log.js';

/** Segments of 4 MiB, for the records that do not fit in the small geometry's 64 KiB. */
const BIG: FormatOptions = {
  sizeBytes: 16 * 1024 * 1024,
  segmentBytes: 4 * 1024 * 1024,
  casSlots: 4,
};

const smallSizes = [0, 1, 7, 8, 23, 24, 4095, 4096, 4097];
const bigSizes = [65_536, 1024 * 1024];

for (const size of [...smallSizes, ...bigSizes]) {
  t.test(`a ${size}-byte record reads back identical, before and after reopen`, async (t) => {
    const { path } = await freshLun(t, bigSizes.includes(size) ? BIG : SMALL);
    const data = payload(size, size + 1);
    const lun = await Lun.open(path);
    const [address] = await lun.append(3, data);
    t.type(address, 'number');
    t.same(await lun.read(address as number), data, 'read before close');
    await lun.close();
    const again = await Lun.open(path);
    t.teardown(() => (again.closed ? undefined : again.close()));
    t.same(await again.read(address as number), data, 'read after reopen');
    const listed = await readPageSet(again, 3);
    t.equal(listed.length, 1);
    t.same(listed[0]?.data, data, 'records() after reopen');
    t.equal(again.recovery.liveBytes, paddedRecordBytes(size));
  });
}

t.test('records of one append get increasing addresses, each after the previous one', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  const sizes = [0, 1, 7, 8, 9, 23, 24, 25, 100, 4096];
  const records = sizes.map((size, i) => payload(size, i));
  const addresses = await lun.append(1, records);
  t.equal(addresses.length, sizes.length);
  for (let i = 1; i < addresses.length; i++) {
    const step = offsetOf(addresses[i] as number) - offsetOf(addresses[i - 1] as number);
    t.equal(step, paddedRecordBytes(sizes[i - 1] as number), `record ${i} follows record ${i - 1}`);
  }
  for (let i = 0; i < addresses.length; i++) {
    t.same(await lun.read(addresses[i] as number), records[i], `record ${i} reads back`);
  }
});

t.test('records() yields the live records in append order with increasing seq', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const expected: Array<{ address: number; data: Buffer }> = [];
  // Enough appends of a few KiB each to span several 64 KiB segments.
  for (let round = 0; round < 40; round++) {
    const records = [payload(1500 + round * 37, round), payload(round * 13, 1000 + round)];
    const addresses = await lun.append(1, records);
    records.forEach((data, i) => expected.push({ address: addresses[i] as number, data }));
  }
  t.ok(new Set(expected.map((e) => Math.floor(e.address / 65536))).size > 1, 'spans segments');
  for (const [name, target] of [['open', lun], ['reopened', undefined]] as const) {
    const current = target ?? (await Lun.open(path));
    const listed = await readPageSet(current, 1);
    t.equal(listed.length, expected.length, `${name}: every record is listed`);
    t.same(listed.map((r) => r.address), expected.map((e) => e.address), `${name}: in order`);
    t.ok(listed.every((r, i) => i === 0 || r.seq > (listed[i - 1] as { seq: number }).seq),
      `${name}: seq increases`);
    t.ok(listed.every((r, i) => r.data.equals((expected[i] as { data: Buffer }).data)),
      `${name}: data matches`);
    await current.close();
  }
});

t.test('concurrent appends to one page set are listed in the order of their seq', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  const results = await Promise.all(
    Array.from({ length: 32 }, (_, i) => lun.append(2, [payload(200, i), payload(9, 100 + i)])));
  const listed = await readPageSet(lun, 2);
  t.equal(listed.length, 64);
  // Appends submitted in one tick are taken in submission order into one flush.
  t.same(listed.map((r) => r.address), results.flat(), 'listed in submission order');
  t.ok(listed.every((r, i) => i === 0 || r.seq > (listed[i - 1] as { seq: number }).seq));
});

t.test('page sets are independent: each lists only its own records', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const own = new Map<number, Buffer[]>([[1, []], [2, []], [3, []]]);
  for (let round = 0; round < 30; round++) {
    const pageSet = 1 + (round % 3);
    const data = payload(700 + round, round);
    own.get(pageSet)?.push(data);
    await lun.append(pageSet, data);
  }
  // Releasing all of page set 2 leaves the others untouched.
  const second = await readPageSet(lun, 2);
  await lun.release(second.map((r) => r.address));
  own.set(2, []);
  await lun.close();
  const again = await Lun.open(path);
  t.teardown(() => again.close());
  for (const [pageSet, data] of own) {
    const listed = await readPageSet(again, pageSet);
    t.same(listed.map((r) => r.data), data, `page set ${pageSet} holds exactly its records`);
  }
  t.same(await readPageSet(again, 4), [], 'an unused page set is empty');
});

t.test('a released record reads E_NOT_LIVE and is absent from records() after reopen',
  async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const addresses = await lun.append(1, [payload(100, 1), payload(100, 2), payload(100, 3)]);
  await lun.release([addresses[1] as number]);
  t.equal((await rejectionOf(lun.read(addresses[1] as number))).code, 'E_NOT_LIVE');
  t.same((await lun.read(addresses[0] as number)), payload(100, 1), 'its neighbour is live');
  await lun.close();
  const again = await Lun.open(path);
  t.teardown(() => again.close());
  t.equal((await rejectionOf(again.read(addresses[1] as number))).code, 'E_NOT_LIVE');
  const listed = await readPageSet(again, 1);
  t.same(listed.map((r) => r.address), [addresses[0], addresses[2]]);
});

t.test('an append with options.release adds its records and releases the old ones', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const old = await lun.append(1, [payload(300, 1), payload(300, 2)]);
  const fresh = await lun.append(1, payload(300, 3), { release: old });
  for (const address of old) {
    t.equal((await rejectionOf(lun.read(address))).code, 'E_NOT_LIVE', 'released at once');
  }
  await lun.close();
  const again = await Lun.open(path);
  t.teardown(() => again.close());
  const listed = await readPageSet(again, 1);
  t.same(listed.map((r) => r.address), fresh, 'after reopen only the new record is live');
  t.same(listed[0]?.data, payload(300, 3));
});

/**
 * Crashes the LUN at every write and sync of one append that also releases, with each way of
 * damaging unsynced writes; after recovery the append must be entirely there or entirely not.
 * Every run starts from a copy of the same LUN file.
 */
t.test('an append with options.release is atomic across a crash at any of its I/Os', async (t) => {
  // A small LUN: every run starts from a copy of it.
  const { path: pristine } = await freshLun(t, { ...SMALL, sizeBytes: 2 * 1024 * 1024 });
  const setup = await Lun.open(pristine);
  const old = await setup.append(1, [payload(2000, 1), payload(2000, 2)]);
  // Too large for the rest of the first segment: the append also allocates one.
  await setup.close();
  const records = [payload(31_000, 3), payload(31_000, 4)];
  const path = `${pristine}.run`;
  await copyFile(pristine, path);
  const probe = await Lun.open(path, { faults: { seed: 1 }, prefillSegmentsAhead: 0 });
  const opening = probe.faults?.counters().mutations ?? 0;
  await probe.append(1, records, { release: old });
  // Count the flush that frees the emptied first segment too: a crash may come there.
  t.ok(await waitFor(() => probe.space().usedSegments === 1), 'the first segment is freed');
  const mutations = (probe.faults?.counters().mutations ?? 0) - opening;
  await probe.close();
  t.ok(mutations >= 3, `the append writes a chunk and a descriptor, then syncs (${mutations})`);
  const outcomes = { applied: 0, absent: 0 };
  for (const mode of ['drop', 'apply', 'partial', 'tear', 'trash'] as CrashMode[]) {
    for (let run = 0; run < 3 * mutations; run++) {
      const k = 1 + (run % mutations);
      await copyFile(pristine, path);
      const lun = await Lun.open(path, {
        faults: { seed: run + 1, crashAtMutation: opening + k, crashMode: mode },
        prefillSegmentsAhead: 0,
      });
      let acknowledged = true;
      await lun.append(1, records, { release: old }).catch((error: unknown) => {
        acknowledged = false;
        t.equal((error as { code?: string }).code, 'E_CRASHED', `${mode} at mutation ${k}`);
      });
      await lun.close();
      const again = await Lun.open(path);
      const listed = await readPageSet(again, 1);
      await again.close();
      const data = listed.map((r) => r.data);
      const applied = data.length === 2 && data.every((d, i) => d.equals(records[i] as Buffer));
      const absent = listed.length === 2 && listed.every((r, i) => r.address === old[i]);
      t.ok(applied !== absent, `${mode} at mutation ${k}: all or nothing (${listed.length} live)`);
      t.ok(applied || !acknowledged, `${mode} at mutation ${k}: acknowledged means applied`);
      outcomes[applied ? 'applied' : 'absent']++;
    }
  }
  t.ok(outcomes.applied > 0 && outcomes.absent > 0,
    `both outcomes occur (applied ${outcomes.applied}, absent ${outcomes.absent})`);
});

t.test('releasing a record of another page set in options.release rejects E_INVALID_ARGUMENT',
  async (t) => {
    const { path } = await freshLun(t);
    const lun = await Lun.open(path);
    t.teardown(() => lun.close());
    const [foreign] = await lun.append(2, payload(50, 1));
    const [own] = await lun.append(1, payload(50, 2));
    const error =
      await rejectionOf(lun.append(1, payload(50, 3), { release: [foreign as number] }));
    t.equal(error.code, 'E_INVALID_ARGUMENT');
    t.match(error.message, /page set 2/);
    t.same(await lun.read(foreign as number), payload(50, 1), 'the foreign record stays live');
    t.same((await readPageSet(lun, 1)).map((r) => r.address), [own],
      'the rejected append added nothing');
  });

t.test('releasing a record a second time rejects E_NOT_LIVE', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  const [address] = await lun.append(1, payload(64, 1));
  await lun.release([address as number]);
  t.equal((await rejectionOf(lun.release([address as number]))).code, 'E_NOT_LIVE');
  t.equal((await rejectionOf(lun.append(1, payload(1, 2), { release: [address as number] }))).code,
    'E_NOT_LIVE', 'also inside an append');
});

t.test('releasing one address twice in one call rejects E_NOT_LIVE and releases nothing',
  async (t) => {
    const { path } = await freshLun(t);
    const lun = await Lun.open(path);
    t.teardown(() => lun.close());
    const [address] = await lun.append(1, payload(64, 1));
    const error = await rejectionOf(lun.release([address as number, address as number]));
    t.equal(error.code, 'E_NOT_LIVE');
    t.same(await lun.read(address as number), payload(64, 1), 'the record is still live');
  });

t.test('an append too large for a segment rejects E_RECORD_TOO_LARGE', async (t) => {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  // The largest record that fits: its padded size equals appendBytesMax.
  const largest = geometry.appendBytesMax - paddedRecordBytes(0);
  t.equal(paddedRecordBytes(largest), geometry.appendBytesMax);
  const [address] = await lun.append(1, payload(largest, 1));
  t.same(await lun.read(address as number), payload(largest, 1), 'the largest record fits');
  const one = await rejectionOf(lun.append(1, payload(largest + 1, 2)));
  t.equal(one.code, 'E_RECORD_TOO_LARGE', 'one byte more is too large');
  const many = await rejectionOf(lun.append(1, [payload(largest / 2, 3), payload(largest / 2, 4)]));
  t.equal(many.code, 'E_RECORD_TOO_LARGE', 'records that fit alone but not together');
  t.equal((await readPageSet(lun, 1)).length, 1, 'nothing of the rejected appends was written');
});

/**
 * The core suite: what every storage under a LUN must do the same way. It runs over a regular
 * file, over the fault-injecting device with nothing armed, and over loop devices (512- and
 * 4096-byte sectors, with and without O_DIRECT); a provider makes the LUNs and says how to open
 * them. Format, open and reopen; round trips of several sizes; releases and the reuse of
 * segments; recovery after close, a torn tail included; slot read and compare-and-swap;
 * records() order.
 */
import type { Test } from 'tap';

import { Lun, type FormatOptions, type OpenOptions } from '../../src/index.js';
import { garble } from '../helpers/lun.js';
import {
  chunkOfFirstRecord,
  paddedRecordBytes,
  payload,
  payloadByte,
  readPageSet,
  rejectionOf,
  segmentOf,
  waitFor,
} from '../helpers/log.js';

export interface LunProvider {
  /**
   * Formats a fresh LUN for one test with `options` (adding `sizeBytes` or `force` as its
   * storage needs) and returns its path; anything it sets up is undone in `t.teardown`.
   */
  create(t: Test, options: FormatOptions): Promise<string>;
  /** Options for every open of the suite. */
  open: OpenOptions;
}

/** Small segments so that a few dozen appends span, fill and free several of them. */
const GEOMETRY: FormatOptions = { segmentBytes: 64 * 1024, casSlots: 8 };

async function opened(t: Test, provider: LunProvider): Promise<{ path: string; lun: Lun }> {
  const path = await provider.create(t, GEOMETRY);
  const lun = await Lun.open(path, provider.open);
  t.teardown(() => (lun.closed ? undefined : lun.close()));
  return { path, lun };
}

async function reopen(t: Test, provider: LunProvider, path: string): Promise<Lun> {
  const lun = await Lun.open(path, provider.open);
  t.teardown(() => (lun.closed ? undefined : lun.close()));
  return lun;
}

export function coreSuite(t: Test, provider: LunProvider): void {
  t.test('a formatted LUN opens empty and reopens with the same identity', async (t) => {
    const { path, lun } = await opened(t, provider);
    t.equal(lun.faults !== undefined, provider.open.faults !== undefined,
      'the LUN runs over the device the provider asked for');
    t.equal(lun.geometry.segmentBytes, 64 * 1024);
    t.equal(lun.recovery.liveRecords, 0);
    t.equal(lun.recovery.usedSegments, 0);
    t.equal(lun.space().freeSegments, lun.geometry.segmentCount);
    t.ok(lun.recovery.primarySuperblockValid && lun.recovery.backupSuperblockValid);
    await lun.close();
    const again = await reopen(t, provider, path);
    t.same(again.geometry, lun.geometry, 'the same geometry and uuid');
    t.same(again.recovery.corruptions, []);
    await again.close();
    const reader = await Lun.open(path, { ...provider.open, readOnly: true });
    t.equal(reader.geometry.uuid, lun.geometry.uuid, 'a read-only open sees the same LUN');
    t.equal((await rejectionOf(reader.append(1, payload(1, 1)))).code, 'E_READ_ONLY');
    await reader.close();
  });

  t.test('records of several sizes read back identical, before and after reopen', async (t) => {
    const { path, lun } = await opened(t, provider);
    const sizes = [0, 1, 7, 8, 24, 511, 512, 4095, 4096, 4097, 30_000, 65_000];
    const written = new Map<number, Buffer>();
    for (const size of sizes) {
      const [address] = await lun.append(1, payload(size, size));
      written.set(address as number, payload(size, size));
    }
    const grouped = sizes.slice(0, 8).map((size) => payload(size, size + 1));
    const addresses = await lun.append(2, grouped);
    addresses.forEach((address, i) => written.set(address, grouped[i] as Buffer));
    for (const [address, data] of written) t.same(await lun.read(address), data, `at ${address}`);
    await lun.close();
    const again = await reopen(t, provider, path);
    for (const [address, data] of written) {
      t.same(await again.read(address), data, `at ${address} after reopen`);
    }
  });

  t.test('released records are gone and their segments are reused', async (t) => {
    const { path, lun } = await opened(t, provider);
    // An append of 15 × 4000 bytes fills a segment.
    const segmentful = (seed: number) =>
      Array.from({ length: 15 }, (_, k) => payload(4000, seed + k));
    const first: number[] = [];
    for (let i = 0; i < 4; i++) first.push(...(await lun.append(1, segmentful(i * 20))));
    const firstSegments = new Set(first.map((a) => segmentOf(lun.geometry, a)));
    t.equal(firstSegments.size, 4);
    const [keep] = await lun.append(2, payload(10, 1));
    await lun.release(first);
    t.equal((await rejectionOf(lun.read(first[0] as number))).code, 'E_NOT_LIVE');
    t.ok(await waitFor(() => lun.stats().frees >= 3), 'the emptied segments are freed');
    t.equal(lun.space().liveRecords, 1, 'only the record of page set 2 is live');
    const second: number[] = [];
    for (let i = 0; i < 8 && lun.space().freeSegments > 0; i++) {
      second.push(...(await lun.append(1, segmentful(500 + i * 20))));
      if (second.some((a) => firstSegments.has(segmentOf(lun.geometry, a)))) break;
    }
    t.ok(second.some((a) => firstSegments.has(segmentOf(lun.geometry, a))),
      'a freed segment holds new records');
    await lun.close();
    const again = await reopen(t, provider, path);
    t.same(again.recovery.corruptions, []);
    t.same((await readPageSet(again, 1)).map((r) => r.address), second, 'only the new records');
    t.same(await again.read(keep as number), payload(10, 1));
  });

  t.test('recovery after close finds every record of every page set', async (t) => {
    const { path, lun } = await opened(t, provider);
    const written = new Map<number, { pageSet: number; data: Buffer }>();
    for (let round = 0; round < 12; round++) {
      const pageSet = 1 + (round % 3);
      const data = [payload(1000 + round * 500, round), payload(round, 100 + round)];
      const addresses = await lun.append(pageSet, data);
      addresses.forEach((a, i) => written.set(a, { pageSet, data: data[i] as Buffer }));
    }
    await lun.close();
    const again = await reopen(t, provider, path);
    const bytes =
      [...written.values()].reduce((sum, r) => sum + paddedRecordBytes(r.data.length), 0);
    t.equal(again.recovery.dataRecords, written.size);
    t.equal(again.recovery.liveBytes, bytes);
    t.same(again.recovery.corruptions, []);
    t.same(again.recovery.tornTails, []);
    for (const pageSet of [1, 2, 3]) {
      const expected = [...written].filter(([, r]) => r.pageSet === pageSet);
      const listed = await readPageSet(again, pageSet);
      t.same(listed.map((r) => [r.address, r.data]), expected.map(([a, r]) => [a, r.data]),
        `page set ${pageSet}`);
    }
  });

  t.test('recovery after close drops a torn tail and keeps the rest', async (t) => {
    const { path, lun } = await opened(t, provider);
    const kept = await lun.append(1, [payload(3000, 1), payload(5, 2)]);
    const torn = await lun.append(1, [payload(6000, 3)]);
    await lun.close();
    const chunk = chunkOfFirstRecord(torn[0] as number);
    await garble(path, payloadByte(torn[0] as number, 4000), 512, 9);
    const again = await reopen(t, provider, path);
    t.same(again.recovery.tornTails.map((tail) => tail.address), [chunk]);
    t.same(again.recovery.corruptions, []);
    t.same((await readPageSet(again, 1)).map((r) => r.address), kept);
    const [next] = await again.append(1, payload(100, 4));
    t.same(await again.read(next as number), payload(100, 4), 'the log goes on');
  });

  t.test('slot read and cas: a stale before-image changes nothing; a true cas lasts', async (t) => {
    const { path, lun } = await opened(t, provider);
    const bytes = lun.slots.slotBytes;
    const zero = Buffer.alloc(bytes);
    const one = Buffer.alloc(bytes, 1);
    t.same(await lun.slots.read(0), zero, 'a slot starts as zeros');
    t.equal(await lun.slots.cas(0, one, one), false, 'a stale before-image fails');
    t.same(await lun.slots.read(0), zero);
    t.equal(await lun.slots.cas(0, zero, one), true);
    t.same(await lun.slots.read(0), one);
    t.same(await lun.slots.read(1), zero, 'other slots are untouched');
    // Concurrent increments of a counter in slot 2: each cas retries from what it read.
    const increment = async () => {
      for (let attempt = 0; attempt < 1000; attempt++) {
        const before = await lun.slots.read(2);
        const after = Buffer.from(before);
        after.writeUInt32LE(before.readUInt32LE(0) + 1, 0);
        if (await lun.slots.cas(2, before, after)) return;
      }
      throw new Error('a cas did not succeed in 1000 attempts');
    };
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 10; i++) await increment();
    }));
    t.equal((await lun.slots.read(2)).readUInt32LE(0), 40, 'no increment is lost');
    await lun.close();
    const again = await reopen(t, provider, path);
    t.same(await again.slots.read(0), one, 'the image survives reopen');
    t.equal((await again.slots.read(2)).readUInt32LE(0), 40);
  });

  t.test('records() lists each page set in append order, before and after reopen', async (t) => {
    const { path, lun } = await opened(t, provider);
    const appends = await Promise.all(Array.from({ length: 24 }, (_, i) =>
      lun.append(1 + (i % 2), [payload(100 * i, i), payload(3, 50 + i)])));
    const expected = (pageSet: number) => appends.filter((_, i) => 1 + (i % 2) === pageSet).flat();
    const check = async (current: Lun, when: string) => {
      for (const pageSet of [1, 2]) {
        const listed = await readPageSet(current, pageSet);
        t.same(listed.map((r) => r.address), expected(pageSet), `${when}: page set ${pageSet}`);
        t.ok(listed.every((r, i) => i === 0 || r.seq > (listed[i - 1]?.seq ?? 0)),
          `${when}: seq increases`);
      }
    };
    await check(lun, 'open');
    await lun.close();
    await check(await reopen(t, provider, path), 'reopened');
  });
}

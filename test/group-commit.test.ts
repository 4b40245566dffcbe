/**
 * Group commit: concurrent appends share one flush (one fdatasync), and each is acknowledged
 * only when that flush is durable.
 */
import t from 'tap';

import { Lun } from '../src/index.js';
import { freshLun } from './helpers/lun.js';

t.test('64 appends made in the same tick share one fdatasync', async (t) => {
  const { path } = await freshLun(t, { sizeBytes: 32 << 20, segmentBytes: 1 << 20, casSlots: 4 });
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  t.teardown(() => (lun.closed ? undefined : lun.close()));
  // The first append allocates a segment; the flush after it mirrors the descriptor block.
  // The second append cannot start before that mirror flush is done.
  await lun.append(1, Buffer.from('warm up'));
  await lun.append(1, Buffer.from('warm up again'));
  const before = lun.stats();
  const appends = Array.from({ length: 64 }, (_, i) => lun.append(1, Buffer.alloc(1024, i)));
  const addresses = (await Promise.all(appends)).flat();
  const after = lun.stats();
  t.equal(after.records - before.records, 64);
  t.equal(after.syncs - before.syncs, 1, 'one fdatasync for all 64');
  t.equal(new Set(addresses).size, 64, 'each append has its own address');
});

t.test('64 concurrent appenders in a closed loop average many records per flush, and all of ' +
  'them are durable', async (t) => {
  const { path } = await freshLun(t, { sizeBytes: 64 << 20, segmentBytes: 1 << 20, casSlots: 4 });
  const lun = await Lun.open(path);
  const perAppender = 30;
  const written = new Map<number, Buffer>();
  const before = lun.stats();
  await Promise.all(Array.from({ length: 64 }, async (_, appender) => {
    for (let i = 0; i < perAppender; i++) {
      const data = Buffer.alloc(1024, (appender * 31 + i) & 0xff);
      data.writeUInt32LE(appender * 1000 + i, 0);
      const [address] = await lun.append(1 + (appender % 4), data);
      written.set(address as number, data);
    }
  }));
  const after = lun.stats();
  const records = after.records - before.records;
  const flushes = after.flushes - before.flushes;
  t.equal(records, 64 * perAppender);
  t.ok(records / flushes >= 8, `${(records / flushes).toFixed(1)} records per flush`);
  t.ok(after.maxFlushRecords >= 32, `a flush carried ${after.maxFlushRecords} records`);
  await lun.close();
  const reopened = await Lun.open(path);
  t.teardown(() => reopened.close());
  let matched = 0;
  for (const [address, data] of written) {
    if ((await reopened.read(address)).equals(data)) matched++;
  }
  t.equal(matched, written.size, 'every acknowledged record reads back after a reopen');
});

t.test('an append waits for the fdatasync of the flush that carries it', async (t) => {
  // A failing fdatasync must fail every append of its flush: none may have been acknowledged
  // before the sync was known to succeed.
  const { path } = await freshLun(t);
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0, faults: { seed: 3 } });
  t.teardown(() => (lun.closed ? undefined : lun.close()));
  await lun.append(1, Buffer.from('before'));
  lun.faults!.failAt({ io: 1, on: 'sync' });
  const results = await Promise.allSettled(
    Array.from({ length: 16 }, (_, i) => lun.append(1 + (i % 2), Buffer.alloc(100, i))));
  t.same(results.map((r) => r.status), Array(16).fill('rejected'));
  t.match((results[0] as PromiseRejectedResult).reason, { code: 'E_IO' });
});

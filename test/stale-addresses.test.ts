/**
 * Addresses carry a guard: once a record is released and its segment reused, its old address
 * names no record (E_NOT_LIVE) instead of naming whatever was written there since.
 */
import t from 'tap';

import { Lun, addressOffset } from '../src/index.js';
import { freshLun } from './helpers/lun.js';

t.test('a released address does not read the record that reused its space', async (t) => {
  const { path } = await freshLun(t, { sizeBytes: 2 * 1024 * 1024, segmentBytes: 64 * 1024, casSlots: 4 });
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  t.teardown(() => lun.close());
  const first = await lun.append(1, Buffer.alloc(30_000, 1));
  const stale = first[0] as number;
  await lun.release(first);
  // Keep appending (and releasing) until a new record lands on the stale record's bytes.
  let reused: number | undefined;
  let fill = 0;
  for (let i = 0; i < 400 && reused === undefined; i++) {
    fill = 2 + (i % 200);
    const [address] = await lun.append(1, Buffer.alloc(30_000, fill));
    if (addressOffset(address as number) === addressOffset(stale)) reused = address;
    else await lun.release([address as number]);
  }
  t.not(reused, undefined, 'the space was reused');
  t.not(reused, stale, 'the new record has a different address for the same bytes');
  await t.rejects(lun.read(stale), { code: 'E_NOT_LIVE' });
  await t.rejects(lun.release([stale]), { code: 'E_NOT_LIVE' });
  t.same(await lun.read(reused as number), Buffer.alloc(30_000, fill), 'the new address reads the new record');
});

t.test('addressOffset gives the byte offset inside the log region', async (t) => {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  const [address] = await lun.append(2, Buffer.from('x'));
  const offset = addressOffset(address as number);
  t.ok(offset >= geometry.logRegionOffset && offset < geometry.sizeBytes);
  t.equal((offset - geometry.logRegionOffset) % 8, 0, 'records are 8-byte aligned');
});

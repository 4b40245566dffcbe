/**
 * Recovery of a torn tail: the last chunk of a page set damaged the ways an interrupted write
 * leaves it (garbage inside its last record, a header never written, the second half never
 * written). Opening drops that chunk alone, reports it in recovery.tornTails, keeps every
 * earlier record, and the log goes on from there across another reopen.
 */
import t, { type Test } from 'tap';

import { Lun, type LunGeometry } from '../src/index.js';
import { freshLun, garble, zeroBytes } from './helpers/lun.js';
import {
  chunkOfFirstRecord,
  offsetOf,
  paddedRecordBytes,
  payload,
  payloadByte,
  readChunkHeader,
  readPageSet,
  rejectionOf,
  segmentOf,
  segmentStart,
} from './helpers/log.js';

interface Written {
  path: string;
  geometry: LunGeometry;
  /** Records of page set 1 before its last chunk, by address. */
  earlier: Map<number, Buffer>;
  /** A record of page set 2, written after that chunk. */
  other: { address: number; data: Buffer };
  /** The records of the last chunk. */
  last: number[];
  lastSizes: number[];
  chunk: number;
}

/**
 * Writes a few chunks to page set 1 (and one to page set 2 after them), each append alone in
 * its flush; the last chunk of page set 1 spans three blocks.
 */
async function writeLog(t: { testdir(): string }): Promise<Written> {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  const earlier = new Map<number, Buffer>();
  for (let i = 0; i < 4; i++) {
    const records = [payload(900 + i, i), payload(i * 7, 50 + i)];
    const addresses = await lun.append(1, records);
    addresses.forEach((address, k) => earlier.set(address, records[k] as Buffer));
  }
  const lastSizes = [5000, 3000, 2500];
  const last = await lun.append(1, lastSizes.map((size, k) => payload(size, 900 + k)));
  const [otherAddress] = await lun.append(2, payload(100, 777));
  const other = { address: otherAddress as number, data: payload(100, 777) };
  await lun.close();
  const chunk = chunkOfFirstRecord(last[0] as number);
  const header = await readChunkHeader(path, geometry, chunk);
  if (header === undefined || header.recordCount !== 3 || header.blockSpan !== 3 ||
      (chunk - segmentStart(geometry, segmentOf(geometry, chunk))) % geometry.blockBytes !== 0) {
    throw new Error(`the last chunk is not where the test expects it: ${JSON.stringify(header)}`);
  }
  return { path, geometry, earlier, other, last, lastSizes, chunk };
}

/** Opens the damaged LUN and checks recovery; then appends, reopens and checks again. */
async function checkRecovery(t: Test, w: Written): Promise<void> {
  const lun = await Lun.open(w.path);
  t.same(lun.recovery.corruptions, [], 'no corruption is reported');
  t.same(lun.recovery.tornTails.map((tail) => [tail.pageSet, tail.address]), [[1, w.chunk]],
    'the torn chunk is listed with its address');
  for (const [address, data] of w.earlier) {
    t.same(await lun.read(address), data, `the earlier record at ${address} is intact`);
  }
  t.same(await lun.read(w.other.address), w.other.data, 'the other page set is intact');
  for (const address of w.last) {
    t.equal((await rejectionOf(lun.read(address))).code, 'E_NOT_LIVE',
      `the torn record at ${address} is gone`);
  }
  const page1 = [...w.earlier.keys()];
  t.same((await readPageSet(lun, 1)).map((r) => r.address), page1, 'records() lists the rest');
  const next = [payload(600, 1), payload(6000, 2)];
  const added = await lun.append(1, next);
  t.equal(offsetOf(added[0] as number), w.chunk + 32,
    'the log continues where the torn chunk began');
  await lun.close();

  const again = await Lun.open(w.path);
  t.teardown(() => again.close());
  t.same(again.recovery.corruptions, [], 'no corruption after the second reopen');
  const listed = await readPageSet(again, 1);
  t.same(listed.map((r) => r.address), [...page1, ...added], 'the new records survive reopen');
  t.same(listed.slice(-2).map((r) => r.data), next);
  t.same(await again.read(added[1] as number), next[1]);
  t.same(await again.read(w.other.address), w.other.data);
}

t.test('a tail chunk with garbage inside its last record is dropped as a torn tail', async (t) => {
  const w = await writeLog(t);
  await garble(w.path, payloadByte(w.last[2] as number, 100), 1000, 7);
  await checkRecovery(t, w);
});

/**
 * Only the 32-byte chunk header is zero; the records behind it were written, and the page set
 * and generation in the first record's header show that the chunk is the segment's own.
 */
t.test('a tail chunk whose header was never written is dropped as a torn tail', async (t) => {
  const w = await writeLog(t);
  await zeroBytes(w.path, w.chunk, 32);
  await checkRecovery(t, w);
});

t.test('a tail chunk whose second half was never written is dropped as a torn tail', async (t) => {
  const w = await writeLog(t);
  const bytes = 32 + w.lastSizes.reduce((sum, size) => sum + paddedRecordBytes(size), 0);
  const half = Math.floor(bytes / 2);
  await zeroBytes(w.path, w.chunk + half, w.geometry.blockBytes * 3 - half);
  await checkRecovery(t, w);
});

/**
 * Detection of damage that is not a torn tail: bit flips, lost and misdirected writes in the
 * middle of the log, the continuity check between segments, damaged descriptor blocks and slot
 * copies. A damaged LUN refuses to open with E_CORRUPT and the damaged place's address unless
 * salvage is asked for, and no damaged record is ever returned as good.
 */
import t, { type Test } from 'tap';

import { Lun, type LunGeometry } from '../src/index.js';
import { flipBit, freshLun, readBytes, writeBytes, zeroBytes } from './helpers/lun.js';
import {
  chunkOfFirstRecord,
  descriptorCopyOffset,
  descriptorCopyVersion,
  payload,
  payloadByte,
  readChunkHeader,
  readPageSet,
  rejectionOf,
  segmentOf,
  slotCopyOffset,
} from './helpers/log.js';

interface Chunk {
  address: number;
  records: number[];
  data: Buffer[];
}

interface Log {
  path: string;
  geometry: LunGeometry;
  /** Page set 1: five chunks of one block each, in one segment. */
  chunks: Chunk[];
}

async function writeChunks(lun: Lun, pageSet: number, count: number, seed: number) {
  const chunks: Chunk[] = [];
  for (let i = 0; i < count; i++) {
    const data = [payload(1500, seed + i * 2), payload(700, seed + i * 2 + 1)];
    const records = await lun.append(pageSet, data);
    chunks.push({ address: chunkOfFirstRecord(records[0] as number), records, data });
  }
  return chunks;
}

async function writeLog(t: { testdir(): string }): Promise<Log> {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  const chunks = await writeChunks(lun, 1, 5, 1);
  await lun.close();
  for (const [i, chunk] of chunks.entries()) {
    const header = await readChunkHeader(path, geometry, chunk.address);
    if (header?.blockSpan !== 1 || chunk.address !== (chunks[0]?.address ?? 0) + i * 4096) {
      throw new Error(`chunk ${i} is not where the test expects it`);
    }
  }
  return { path, geometry, chunks };
}

async function corruptionOf(path: string) {
  const error = await rejectionOf(Lun.open(path));
  const report = error.details['report'] as
    { corruptions: Array<{ address: number; reason: string }> } | undefined;
  return { code: error.code, message: error.message, corruptions: report?.corruptions ?? [] };
}

/** Every record of the chunks not in `damaged` reads back; those in it are gone. */
async function checkSalvaged(t: Test, lun: Lun, chunks: Chunk[], damaged: Chunk) {
  for (const chunk of chunks) {
    for (const [k, address] of chunk.records.entries()) {
      if (chunk === damaged) {
        t.equal((await rejectionOf(lun.read(address))).code, 'E_NOT_LIVE', `${address} is gone`);
      } else {
        t.same(await lun.read(address), chunk.data[k], `${address} reads back`);
      }
    }
  }
  const expected = chunks.filter((c) => c !== damaged).flatMap((c) => c.records);
  t.same((await readPageSet(lun, 1)).map((r) => r.address), expected, 'records() lists the rest');
}

t.test('a bit flip in a middle record makes open reject E_CORRUPT with its chunk address',
  async (t) => {
    const log = await writeLog(t);
    const damaged = log.chunks[2] as Chunk;
    await flipBit(log.path, payloadByte(damaged.records[1] as number, 300), 3);
    const { code, message, corruptions } = await corruptionOf(log.path);
    t.equal(code, 'E_CORRUPT');
    t.equal(corruptions[0]?.address, damaged.address, 'the report names the damaged chunk');
    t.match(message, String(damaged.address), 'so does the message');
  });

t.test('with salvage a LUN with a flipped bit opens and lists the damaged chunk', async (t) => {
  const log = await writeLog(t);
  const damaged = log.chunks[2] as Chunk;
  await flipBit(log.path, payloadByte(damaged.records[0] as number, 10), 0);
  const lun = await Lun.open(log.path, { salvage: true });
  t.teardown(() => lun.close());
  t.same(lun.recovery.corruptions.map((c) => c.address), [damaged.address]);
  await checkSalvaged(t, lun, log.chunks, damaged);
});

t.test('a bit flip in the last chunk of a segment with a successor is reported', async (t) => {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  const chunks = await writeChunks(lun, 1, 2, 1);
  // Too large for the rest of the segment: the page set continues in a new one.
  const [next] = await lun.append(1, payload(60_000, 99));
  await lun.close();
  const last = chunks[1] as Chunk;
  t.not(segmentOf(geometry, next as number), segmentOf(geometry, last.address),
    'the next append opened another segment');
  await flipBit(path, payloadByte(last.records[1] as number, 5), 6);
  const { code, corruptions } = await corruptionOf(path);
  t.equal(code, 'E_CORRUPT');
  t.equal(corruptions[0]?.address, last.address, 'the report names the damaged chunk');
  t.match(corruptions[0]?.reason, /missing/);
});

t.test('a misdirected write over a middle chunk is detected', async (t) => {
  const log = await writeLog(t);
  const source = log.chunks[1] as Chunk;
  const target = log.chunks[3] as Chunk;
  await writeBytes(log.path, target.address, await readBytes(log.path, source.address, 4096));
  const { code, corruptions } = await corruptionOf(log.path);
  t.equal(code, 'E_CORRUPT');
  t.equal(corruptions[0]?.address, target.address, 'the overwritten chunk is named');
  const lun = await Lun.open(log.path, { salvage: true });
  t.teardown(() => lun.close());
  await checkSalvaged(t, lun, log.chunks, target);
  const listed = await readPageSet(lun, 1);
  t.equal(new Set(listed.map((r) => r.seq)).size, listed.length, 'no record is listed twice');
});

t.test('a lost write of a middle chunk is detected', async (t) => {
  const log = await writeLog(t);
  const lost = log.chunks[2] as Chunk;
  await zeroBytes(log.path, lost.address, 4096);
  const { code, corruptions } = await corruptionOf(log.path);
  t.equal(code, 'E_CORRUPT');
  t.equal(corruptions[0]?.address, lost.address, 'the lost chunk is named');
});

t.test('a record damaged after open reads E_CHECKSUM naming its address', async (t) => {
  const log = await writeLog(t);
  const lun = await Lun.open(log.path);
  t.teardown(() => lun.close());
  const address = log.chunks[1]?.records[0] as number;
  await flipBit(log.path, payloadByte(address, 1), 2);
  const error = await rejectionOf(lun.read(address));
  t.equal(error.code, 'E_CHECKSUM');
  t.match(error.message, String(address));
  t.same(await lun.read(log.chunks[2]?.records[0] as number), log.chunks[2]?.data[0],
    'the other records still read');
});

/**
 * records() reads ahead. A read ahead that fails must reach the caller as the rejection of the
 * iteration, never as an unhandled rejection (which Node turns into a crash of the process).
 * The consumer here is slow, so the failing read settles before it is awaited.
 */
t.test('records() over a record damaged after open rejects E_CHECKSUM, nothing unhandled',
  async (t) => {
    const log = await writeLog(t);
    const lun = await Lun.open(log.path);
    t.teardown(() => lun.close());
    const damaged = log.chunks[4]?.records[1] as number;
    await flipBit(log.path, payloadByte(damaged, 1), 2);
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    t.teardown(() => void process.off('unhandledRejection', listener));
    const yielded: number[] = [];
    let failure: { code?: string } | undefined;
    try {
      for await (const record of lun.records(1)) {
        yielded.push(record.address);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } catch (error) {
      failure = error as { code?: string };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
    t.equal(failure?.code, 'E_CHECKSUM', 'the iteration rejects');
    t.notOk(yielded.includes(damaged), 'the damaged record is never yielded');
    t.equal(unhandled.length, 0, 'no rejection went unhandled');
  });

/** Two page sets, so descriptor block 0 is written twice and both its copies hold versions. */
async function twoPageSets(t: { testdir(): string }) {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  const first = await writeChunks(lun, 1, 2, 1);
  const second = await writeChunks(lun, 2, 2, 50);
  await lun.close();
  const versions = [await descriptorCopyVersion(path, geometry, 0, 0),
    await descriptorCopyVersion(path, geometry, 0, 1)];
  const newer = (versions[0] as number) > (versions[1] as number) ? 0 : 1;
  return { path, geometry, records: [...first, ...second], newer };
}

async function checkAllRecords(t: Test, path: string, records: Chunk[]) {
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  t.same(lun.recovery.corruptions, []);
  for (const chunk of records) {
    for (const [k, address] of chunk.records.entries()) {
      const data = await lun.read(address).catch((error: { code: string }) => error.code);
      const outcome = typeof data === 'string' ? data : data.equals(chunk.data[k] as Buffer);
      t.equal(outcome, true, `the record at ${address} is intact`);
    }
  }
}

t.test('a flipped byte in the older copy of a descriptor block is survived', async (t) => {
  const { path, geometry, records, newer } = await twoPageSets(t);
  await flipBit(path, descriptorCopyOffset(geometry, 0, 1 - newer) + 2000, 4);
  await checkAllRecords(t, path, records);
});

t.test('a flipped byte in the newer copy of a descriptor block is survived', async (t) => {
  const { path, geometry, records, newer } = await twoPageSets(t);
  await flipBit(path, descriptorCopyOffset(geometry, 0, newer) + 2000, 4);
  await checkAllRecords(t, path, records);
});

t.test('both copies of a descriptor block damaged make open reject E_CORRUPT naming it',
  async (t) => {
    const { path, geometry } = await twoPageSets(t);
    await flipBit(path, descriptorCopyOffset(geometry, 0, 0) + 100, 1);
    await flipBit(path, descriptorCopyOffset(geometry, 0, 1) + 100, 1);
    const { code, corruptions } = await corruptionOf(path);
    t.equal(code, 'E_CORRUPT');
    t.equal(corruptions[0]?.address, descriptorCopyOffset(geometry, 0, 0));
    t.match(corruptions[0]?.reason, /descriptor block 0/);
  });

/** Slot 0 set twice: its copies hold the first image (older) and the second (newer). */
async function twoImages(t: { testdir(): string }) {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  const zero = Buffer.alloc(lun.slots.slotBytes);
  const first = Buffer.alloc(lun.slots.slotBytes, 0x11);
  const second = Buffer.alloc(lun.slots.slotBytes, 0x22);
  if (!(await lun.slots.cas(0, zero, first)) || !(await lun.slots.cas(0, first, second))) {
    throw new Error('cas failed on a fresh LUN');
  }
  await lun.close();
  // Each cas writes the copy with the lower version; the version is the u64 at byte 16.
  const version = async (copy: number) =>
    (await readBytes(path, slotCopyOffset(geometry, 0, copy) + 16, 8)).readBigUInt64LE(0);
  const newer = (await version(0)) > (await version(1)) ? 0 : 1;
  return { path, geometry, first, second, newer, older: 1 - newer };
}

t.test('a flipped bit in the newer slot copy makes read fall back to the older one', async (t) => {
  const s = await twoImages(t);
  await flipBit(s.path, slotCopyOffset(s.geometry, 0, s.newer) + 40, 0);
  const lun = await Lun.open(s.path);
  t.teardown(() => lun.close());
  t.same(await lun.slots.read(0), s.first, 'the older image is read');
  t.equal(await lun.slots.cas(0, s.first, s.second), true, 'cas goes on from it');
  t.same(await lun.slots.read(0), s.second);
});

t.test('a flipped bit in the older slot copy leaves the current image readable', async (t) => {
  const s = await twoImages(t);
  await flipBit(s.path, slotCopyOffset(s.geometry, 0, s.older) + 40, 0);
  const lun = await Lun.open(s.path);
  t.teardown(() => lun.close());
  t.same(await lun.slots.read(0), s.second);
});

t.test('both slot copies damaged make read and cas reject E_CHECKSUM', async (t) => {
  const s = await twoImages(t);
  await flipBit(s.path, slotCopyOffset(s.geometry, 0, 0) + 40, 0);
  await flipBit(s.path, slotCopyOffset(s.geometry, 0, 1) + 40, 0);
  const lun = await Lun.open(s.path);
  t.teardown(() => lun.close());
  t.equal((await rejectionOf(lun.slots.read(0))).code, 'E_CHECKSUM');
  t.equal((await rejectionOf(lun.slots.cas(0, s.second, s.first))).code, 'E_CHECKSUM');
  t.same(await lun.slots.read(1), Buffer.alloc(lun.slots.slotBytes), 'other slots are unharmed');
});

/**
 * Every validation message a user can meet at the storage core's TypeScript boundary, word for
 * word, with its code: Lun.format, Lun.open, Lun.attach, append, release, read, records,
 * compact, measureDisk, the slot table, the fault injector and crc32c. Promise-returning APIs
 * must reject, never throw synchronously; the synchronous ones (crc32c, faults.*) throw.
 */
import { join } from 'node:path';

import t from 'tap';

import { Lun, SanmqError, crc32c, formatConstants, type ErrorCode } from '../src/index.js';
import { freshLun, outcomeOf, testDir } from './helpers/lun.js';

/** Passes a deliberately wrong value through the type checker. */
const bad = (value: unknown) => value as never;


interface Case {
  /** What is wrong, as it reads in the test's name. */
  name: string;
  call: () => unknown;
  message: string;
  code?: ErrorCode;
}

/** One test per case: the call fails the expected way (`kind`) with the exact message. */
function check(where: string, kind: 'threw' | 'rejected', cases: Case[]): void {
  for (const c of cases) {
    const code = c.code ?? 'E_INVALID_ARGUMENT';
    const verb = kind === 'threw' ? 'throws' : 'rejects';
    t.test(`${where} with ${c.name} ${verb} ${code} "${c.message}"`, async (t) => {
      const result = await outcomeOf(c.call);
      t.equal(result.kind, kind, `${where} ${verb}`);
      t.ok(result.error instanceof SanmqError, 'the error is a SanmqError');
      const error = result.error as SanmqError | undefined;
      t.equal(error?.code, code);
      t.equal(error?.message, c.message);
    });
  }
}

const dir = testDir(t);
const fresh = (name: string) => join(dir, name);
const { path, geometry } = await freshLun(t);
const lun = await Lun.open(path);
const faultyLun = await Lun.open((await freshLun(t)).path, { faults: { seed: 1 } });
t.teardown(async () => {
  await lun.close();
  await faultyLun.close();
});
const faults = faultyLun.faults;
if (faults === undefined) throw new Error('a LUN opened with options.faults has a fault injector');
const maxSafe = Number.MAX_SAFE_INTEGER;
const slotBytes = geometry.casSlotBytes;
const lastSlot = geometry.casSlots - 1;
const record = Buffer.from('a record');

const MIB16 = 1 << 24;
const pathMessage = 'path must be a non-empty string';
const objectMessage = 'options must be an object';

check('Lun.format', 'rejected', [
  { name: 'an empty path', call: () => Lun.format('', { sizeBytes: MIB16 }), message: pathMessage },
  { name: 'a numeric path', call: () => Lun.format(bad(7)), message: pathMessage },
  { name: 'options null', call: () => Lun.format(fresh('a'), bad(null)), message: objectMessage },
  { name: 'options an array', call: () => Lun.format(fresh('a'), bad([])), message: objectMessage },
  { name: 'options a string', call: () => Lun.format(path, bad('x')), message: objectMessage },
  {
    name: 'an unknown option',
    call: () => Lun.format(fresh('a'), bad({ sizeBytes: MIB16, size: 1 })),
    message: 'options.size is not an option of Lun.format',
  },
  ...[3000, 2048, 131_072, 12_288, '4096'].map((value) => ({
    name: `blockBytes ${JSON.stringify(value)}`,
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, blockBytes: bad(value) }),
    message: 'options.blockBytes must be a power of two from 4096 to 65536',
  })),
  ...[32_768, 100_000, 2 ** 27, '65536'].map((value) => ({
    name: `segmentBytes ${JSON.stringify(value)}`,
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, segmentBytes: bad(value) }),
    message: 'options.segmentBytes must be a power of two from 65536 to 67108864',
  })),
  ...[0, -4096, 4097, 1.5, '4096', 2 ** 60].map((value) => ({
    name: `sizeBytes ${JSON.stringify(value)}`,
    call: () => Lun.format(fresh('a'), { sizeBytes: bad(value) }),
    message: 'options.sizeBytes must be a positive multiple of 4096',
  })),
  {
    name: 'sizeBytes not a multiple of blockBytes 8192',
    call: () => Lun.format(fresh('a'), { sizeBytes: (1 << 24) + 4096, blockBytes: 8192 }),
    message: 'options.sizeBytes must be a positive multiple of 8192',
  },
  ...[-1, 65_537, 2.5, '16'].map((value) => ({
    name: `casSlots ${JSON.stringify(value)}`,
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, casSlots: bad(value) }),
    message: 'options.casSlots must be an integer from 0 to 65536',
  })),
  ...[63, 4065, 100.5].map((value) => ({
    name: `casSlotBytes ${value}`,
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, casSlotBytes: value }),
    message: 'options.casSlotBytes must be an integer from 64 to 4064',
  })),
  {
    name: 'casSlotBytes 8161 with blockBytes 8192',
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, blockBytes: 8192, casSlotBytes: 8161 }),
    message: 'options.casSlotBytes must be an integer from 64 to 8160',
  },
  ...['x'.repeat(64), 'é'.repeat(32), 42].map((value) => ({
    name: typeof value === 'string' ? `a label of ${Buffer.byteLength(value)} bytes` : 'a label 42',
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, label: bad(value) }),
    message: 'options.label must be a string of at most 63 bytes',
  })),
  ...(['force', 'prefill', 'direct'] as const).map((key) => ({
    name: `${key} "yes"`,
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, [key]: bad('yes') }),
    message: `options.${key} must be a boolean`,
  })),
  {
    name: 'onProgress not a function',
    call: () => Lun.format(fresh('a'), { sizeBytes: MIB16, onProgress: bad('log') }),
    message: 'options.onProgress must be a function',
  },
  {
    name: 'no sizeBytes for a new file',
    call: () => Lun.format(fresh('new-without-size.img')),
    message: 'options.sizeBytes is required to format a new or empty file',
  },
]);

t.test('Lun.format accepts a label of exactly 63 bytes and keeps it', async (t) => {
  const label = 'é'.repeat(31) + 'x';
  t.equal(Buffer.byteLength(label), 63);
  const options = { sizeBytes: MIB16, segmentBytes: 65_536, label };
  const formatted = await Lun.format(fresh('label63.img'), options);
  t.equal(formatted.label, label);
});

const faultMessages = {
  integer: (key: string) => `options.faults.${key} must be an integer from 0 to ${maxSafe}`,
  boolean: (key: string) => `options.faults.${key} must be a boolean`,
};

check('Lun.open', 'rejected', [
  { name: 'an empty path', call: () => Lun.open(''), message: pathMessage },
  { name: 'an undefined path', call: () => Lun.open(bad(undefined)), message: pathMessage },
  { name: 'options null', call: () => Lun.open(path, bad(null)), message: objectMessage },
  { name: 'options an array', call: () => Lun.open(path, bad([true])), message: objectMessage },
  {
    name: 'the native-only option mode',
    call: () => Lun.open(path, bad({ mode: 'shared' })),
    message: 'options.mode is not an option of Lun.open',
  },
  ...(['readOnly', 'direct', 'salvage'] as const).map((key) => ({
    name: `${key} 1`,
    call: () => Lun.open(path, { [key]: bad(1) }),
    message: `options.${key} must be a boolean`,
  })),
  ...[0, 3_600_001, 1.5, '100'].map((value) => ({
    name: `lockTimeoutMs ${JSON.stringify(value)}`,
    call: () => Lun.open(path, { lockTimeoutMs: bad(value) }),
    message: 'options.lockTimeoutMs must be an integer from 1 to 3600000',
  })),
  ...[-1, 1025].map((value) => ({
    name: `prefillSegmentsAhead ${value}`,
    call: () => Lun.open(path, { prefillSegmentsAhead: value }),
    message: 'options.prefillSegmentsAhead must be an integer from 0 to 1024',
  })),
  ...[1000, 2 ** 32 + 1].map((value) => ({
    name: `pendingBytesMax ${value}`,
    call: () => Lun.open(path, { pendingBytesMax: value }),
    message: 'options.pendingBytesMax must be an integer from 1048576 to 4294967296',
  })),
  ...[-1, 10_001].map((value) => ({
    name: `spinUs ${value}`,
    call: () => Lun.open(path, bad({ spinUs: value })),
    message: 'options.spinUs must be an integer from 0 to 10000',
  })),
  ...[-1, 100_001].map((value) => ({
    name: `gatherUs ${value}`,
    call: () => Lun.open(path, bad({ gatherUs: value })),
    message: 'options.gatherUs must be an integer from 0 to 100000',
  })),
  {
    name: 'faults together with direct',
    call: () => Lun.open(path, { direct: true, faults: {} }),
    message: 'options.faults cannot be combined with options.direct',
  },
  {
    name: 'faults a string',
    call: () => Lun.open(path, { faults: bad('all') }),
    message: 'options.faults must be an object',
  },
  {
    name: 'an unknown fault option',
    call: () => Lun.open(path, { faults: bad({ seed: 1, chaos: true }) }),
    message: 'options.faults.chaos is not an option of options.faults',
  },
  ...(['seed', 'crashAtMutation', 'failAtIo'] as const).map((key) => ({
    name: `faults.${key} -1`,
    call: () => Lun.open(path, { faults: { [key]: -1 } }),
    message: faultMessages.integer(key),
  })),
  {
    name: 'faults.crashMode "melt"',
    call: () => Lun.open(path, { faults: { crashMode: bad('melt') } }),
    message: 'options.faults.crashMode must be one of drop, apply, partial, tear, trash',
  },
  ...[256, 1000, 131_072].map((value) => ({
    name: `faults.sectorBytes ${value}`,
    call: () => Lun.open(path, { faults: { sectorBytes: value } }),
    message: 'options.faults.sectorBytes must be a power of two from 512 to 65536',
  })),
  {
    name: 'faults.failOn "both"',
    call: () => Lun.open(path, { faults: { failOn: bad('both') } }),
    message: 'options.faults.failOn must be one of any, read, write, sync',
  },
  {
    name: 'faults.failKind "eperm"',
    call: () => Lun.open(path, { faults: { failKind: bad('eperm') } }),
    message: 'options.faults.failKind must be one of eio, enospc, short',
  },
  ...(['failPersistent', 'lyingSync', 'realSync'] as const).map((key) => ({
    name: `faults.${key} "true"`,
    call: () => Lun.open(path, { faults: { [key]: bad('true') } }),
    message: faultMessages.boolean(key),
  })),
  {
    name: 'a path that does not exist',
    call: () => Lun.open(fresh('missing.img')),
    message: `${fresh('missing.img')}: no such file`,
  },
]);

check('Lun.attach', 'rejected', [
  { name: 'an empty path', call: () => Lun.attach(''), message: pathMessage },
  { name: 'options null', call: () => Lun.attach(path, bad(null)), message: objectMessage },
  {
    name: 'the open option readOnly',
    call: () => Lun.attach(path, bad({ readOnly: true })),
    message: 'options.readOnly is not an option of Lun.attach',
  },
  {
    name: 'lockTimeoutMs 0',
    call: () => Lun.attach(path, { lockTimeoutMs: 0 }),
    message: 'options.lockTimeoutMs must be an integer from 1 to 3600000',
  },
  {
    name: 'direct "no"',
    call: () => Lun.attach(path, { direct: bad('no') }),
    message: 'options.direct must be a boolean',
  },
  {
    name: 'a path that does not exist',
    call: () => Lun.attach(fresh('missing.img')),
    message: `${fresh('missing.img')}: no such file`,
  },
]);

const pageSetMessage = 'pageSet must be an integer from 0 to 1023';
const { appendRecordsMax, appendReleasesMax, recordBytesMax, recordHeaderBytes } = formatConstants;
const tooManyEncoded = (24 + geometry.appendBytesMax + 7) & ~7;

check('append', 'rejected', [
  ...[-1, 1024, 1.5, '1', Number.NaN].map((value) => ({
    name: `pageSet ${String(value)}`,
    call: () => lun.append(bad(value), record),
    message: pageSetMessage,
  })),
  ...([[], 'text', undefined, new Uint16Array(2)] as unknown[]).map((value, i) => ({
    name: `records ${['[]', '"text"', 'undefined', 'a Uint16Array'][i] ?? ''}`,
    call: () => lun.append(1, bad(value)),
    message: 'records must be a Buffer or a non-empty array of Buffers',
  })),
  {
    name: `${appendRecordsMax + 1} records`,
    call: () => lun.append(1, Array.from({ length: appendRecordsMax + 1 }, () => Buffer.alloc(0))),
    message: `an append holds at most ${appendRecordsMax} records, got ${appendRecordsMax + 1}`,
  },
  {
    name: 'a string among the records',
    call: () => lun.append(1, [record, bad('text')]),
    message: 'records[1] must be a Buffer or Uint8Array',
  },
  {
    name: `a record of ${recordBytesMax + 1} bytes`,
    call: () => lun.append(1, [record, Buffer.alloc(recordBytesMax + 1)]),
    message: `records[1] holds ${recordBytesMax + 1} bytes; ` +
      `a record holds at most ${recordBytesMax}`,
    code: 'E_RECORD_TOO_LARGE',
  },
  {
    name: 'records larger than one segment',
    call: () => lun.append(1, Buffer.alloc(geometry.appendBytesMax)),
    message: 'the records of one append must fit in one segment: at most ' +
      `${geometry.appendBytesMax} bytes encoded, got ${tooManyEncoded}`,
    code: 'E_RECORD_TOO_LARGE',
  },
  { name: 'options null', call: () => lun.append(1, record, bad(null)), message: objectMessage },
  {
    name: 'an unknown option',
    call: () => lun.append(1, record, bad({ durable: false })),
    message: 'options.durable is not an option of append',
  },
  {
    name: 'release not an array',
    call: () => lun.append(1, record, { release: bad(8192) }),
    message: 'options.release must be an array of addresses',
  },
  {
    name: `${appendReleasesMax + 1} releases`,
    call: () => lun.append(1, record, { release: Array(appendReleasesMax + 1).fill(8) }),
    message: `options.release holds at most ${appendReleasesMax} addresses, ` +
      `got ${appendReleasesMax + 1}`,
  },
  ...[-1, 1.5, '8192'].map((value) => ({
    name: `release [${JSON.stringify(value)}]`,
    call: () => lun.append(1, record, { release: [bad(value)] }),
    message: 'options.release[0] must be an address (a non-negative integer)',
  })),
]);

t.test('append of exactly appendBytesMax encoded bytes is accepted', async (t) => {
  const payload = geometry.appendBytesMax - recordHeaderBytes;
  t.equal((recordHeaderBytes + payload + 7) & ~7, geometry.appendBytesMax, 'the append fills it');
  const addresses = await lun.append(2, Buffer.alloc(payload, 1));
  t.equal(addresses.length, 1);
  t.equal((await lun.read(addresses[0] ?? -1)).length, payload);
});

check('release', 'rejected', [
  ...([[], 'x', undefined] as unknown[]).map((value) => ({
    name: `addresses ${JSON.stringify(value) ?? 'undefined'}`,
    call: () => lun.release(bad(value)),
    message: 'addresses must be a non-empty array of addresses',
  })),
  ...[-1, 0.5, '0', Number.NaN].map((value) => ({
    name: `addresses [${String(value)}]`,
    call: () => lun.release([bad(value)]),
    message: 'addresses[0] must be an address (a non-negative integer)',
  })),
]);

check('read', 'rejected', [
  ...[-1, 1.5, Number.NaN, '0', 2 ** 53].map((value) => ({
    name: `address ${String(value)}`,
    call: () => lun.read(bad(value)),
    message: 'address must be an address (a non-negative integer)',
  })),
]);

check('records', 'rejected', [
  ...[-1, 1024, '3'].map((value) => ({
    name: `pageSet ${JSON.stringify(value)}`,
    call: () => lun.records(bad(value)).next(),
    message: pageSetMessage,
  })),
]);

check('compact', 'rejected', [
  { name: 'options null', call: () => lun.compact(bad(null)), message: objectMessage },
  {
    name: 'an unknown option',
    call: () => lun.compact(bad({ everything: true })),
    message: 'options.everything is not an option of compact',
  },
  { name: 'pageSet 1024', call: () => lun.compact({ pageSet: 1024 }), message: pageSetMessage },
  ...[0.95, -0.1, Number.NaN, '0.5'].map((value) => ({
    name: `liveRatioMax ${String(value)}`,
    call: () => lun.compact({ liveRatioMax: bad(value) }),
    message: 'options.liveRatioMax must be a number from 0 to 0.9',
  })),
  ...[0, 1025, 2.5].map((value) => ({
    name: `segmentsMax ${value}`,
    call: () => lun.compact({ segmentsMax: value }),
    message: 'options.segmentsMax must be an integer from 1 to 1024',
  })),
]);

check('measureDisk', 'rejected', [
  { name: 'options a string', call: () => lun.measureDisk(bad('quick')), message: objectMessage },
  {
    name: 'an unknown option',
    call: () => lun.measureDisk(bad({ direct: true })),
    message: 'options.direct is not an option of measureDisk',
  },
  ...[9, 600_001].map((value) => ({
    name: `durationMs ${value}`,
    call: () => lun.measureDisk({ durationMs: value }),
    message: 'options.durationMs must be an integer from 10 to 600000',
  })),
  {
    name: 'scratchBytes 0',
    call: () => lun.measureDisk({ scratchBytes: 0 }),
    message: 'options.scratchBytes must be an integer from 1 to 1099511627776',
  },
  {
    name: 'sparse "yes"',
    call: () => lun.measureDisk({ sparse: bad('yes') }),
    message: 'options.sparse must be a boolean',
  },
]);

const slotMessage = `slot must be an integer from 0 to ${lastSlot}`;
const image = Buffer.alloc(slotBytes);
check('slots.read', 'rejected', [
  ...[-1, lastSlot + 1, 1.5, '0'].map((value) => ({
    name: `slot ${JSON.stringify(value)}`,
    call: () => lun.slots.read(bad(value)),
    message: slotMessage,
  })),
]);

check('slots.cas', 'rejected', [
  {
    name: `slot ${lastSlot + 1}`,
    call: () => lun.slots.cas(lastSlot + 1, image, image),
    message: slotMessage,
  },
  {
    name: `a before-image of ${slotBytes - 1} bytes`,
    call: () => lun.slots.cas(0, Buffer.alloc(slotBytes - 1), image),
    message: `before must be a Buffer of ${slotBytes} bytes`,
  },
  {
    name: 'a string before-image',
    call: () => lun.slots.cas(0, bad('x'.repeat(slotBytes)), image),
    message: `before must be a Buffer of ${slotBytes} bytes`,
  },
  {
    name: `an after-image of ${slotBytes + 1} bytes`,
    call: () => lun.slots.cas(0, image, Buffer.alloc(slotBytes + 1)),
    message: `after must be a Buffer of ${slotBytes} bytes`,
  },
]);

check('slots.close', 'rejected', [
  {
    name: 'the table of an open LUN',
    call: () => lun.slots.close(),
    message: 'this slot table belongs to an open LUN: close the LUN',
  },
]);

check('faults', 'threw', [
  ...['melt', undefined].map((value) => ({
    name: `crash mode ${JSON.stringify(value) ?? 'undefined'}`,
    call: () => faults.crash(bad(value)),
    message: 'mode must be one of drop, apply, partial, tear, trash',
  })),
  {
    name: 'flipBit offset -1',
    call: () => faults.flipBit(-1, 0),
    message: 'offset must be an address (a non-negative integer)',
  },
  ...[8, -1, 0.5].map((value) => ({
    name: `flipBit bit ${value}`,
    call: () => faults.flipBit(0, value),
    message: 'bit must be an integer from 0 to 7',
  })),
  ...[-1, 1.5, undefined].map((value) => ({
    name: `failAt io ${String(value)}`,
    call: () => faults.failAt({ io: bad(value) }),
    message: `plan.io must be an integer from 0 to ${maxSafe}`,
  })),
  {
    name: 'failAt on "disk"',
    call: () => faults.failAt({ io: 1, on: bad('disk') }),
    message: 'plan.on must be one of any, read, write, sync',
  },
  {
    name: 'failAt kind "eperm"',
    call: () => faults.failAt({ io: 1, kind: bad('eperm') }),
    message: 'plan.kind must be one of eio, enospc, short',
  },
  {
    name: 'failAt persistent "yes"',
    call: () => faults.failAt({ io: 1, persistent: bad('yes') }),
    message: 'plan.persistent must be a boolean',
  },
]);

t.test('the fault injector is still unarmed after every refused plan', async (t) => {
  t.same(faults.counters().crashed, false);
  const addresses = await faultyLun.append(1, record);
  t.same(await faultyLun.read(addresses[0] ?? -1), record);
});

check('crc32c', 'threw', [
  ...(['text', [1, 2, 3], new Uint16Array(4)] as unknown[]).map((value, i) => ({
    name: `data ${['a string', 'an array', 'a Uint16Array'][i] ?? ''}`,
    call: () => crc32c(bad(value)),
    message: 'data must be a Buffer or Uint8Array',
  })),
  ...[-1, 2 ** 32, 1.5, '1'].map((value) => ({
    name: `crc ${JSON.stringify(value)}`,
    call: () => crc32c(record, bad(value)),
    message: 'crc must be an integer from 0 to 4294967295',
  })),
]);

t.test('a refused append leaves the LUN usable and writes nothing', async (t) => {
  const before = lun.stats().records;
  await t.rejects(lun.append(-1, record));
  t.equal(lun.stats().records, before, 'no record was written');
  const addresses = await lun.append(1, record);
  t.same(await lun.read(addresses[0] ?? -1), record);
});

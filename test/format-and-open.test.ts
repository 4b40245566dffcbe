/**
 * Formatting and opening a LUN: geometry, uuid and label survive open and reopen; a fresh LUN
 * recovers to an empty report; format refuses a file holding a LUN or any non-zero byte unless
 * forced; open tells apart a file that is no LUN, a LUN of another format version, two damaged
 * superblocks, a damaged copy it can repair from the other, and a file shorter than its LUN.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { Lun, SanmqError, crc32c, formatConstants, type ErrorCode } from '../src/index.js';
import {
  SMALL,
  flipBit,
  freshLun,
  garble,
  readBytes,
  testDir,
  truncate,
  writeBytes,
} from './helpers/lun.js';

const SUPERBLOCK_BYTES = formatConstants.superblockBytes;
const VERSION_OFFSET = 8;     // native/format.h sb::kVersion
const BLOCK_BYTES_OFFSET = 40; // sb::kBlockBytes
const CRC_OFFSET = 252;        // sb::kCrc, a masked CRC32C of bytes [0, 252)

/** The leveldb mask native/crc32c.h applies to every stored checksum. */
function masked(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

/** Rewrites the format version of the superblock at `offset` and fixes up its checksum. */
async function setSuperblockVersion(path: string, offset: number, version: number): Promise<void> {
  const block = await readBytes(path, offset, SUPERBLOCK_BYTES);
  block.writeUInt32LE(version, VERSION_OFFSET);
  block.writeUInt32LE(masked(crc32c(block.subarray(0, CRC_OFFSET))), CRC_OFFSET);
  await writeBytes(path, offset, block);
}

async function expectError(
  t: Test,
  promise: Promise<unknown>,
  code: ErrorCode,
  message: string | RegExp,
): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  t.ok(error instanceof SanmqError, `rejected with a SanmqError (${String(error)})`);
  t.equal((error as SanmqError | undefined)?.code, code);
  if (typeof message === 'string') t.equal((error as Error | undefined)?.message, message);
  else t.match((error as Error | undefined)?.message, message);
}

async function openAndClose(path: string, options = {}) {
  const lun = await Lun.open(path, options);
  const { geometry, recovery } = lun;
  await lun.close();
  return { geometry, recovery };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('format, open and reopen show the same geometry and uuid', async (t) => {
  const { path, geometry } = await freshLun(t);
  t.match(geometry.uuid, UUID, 'a version 4 uuid');
  t.equal(geometry.sizeBytes, SMALL.sizeBytes);
  t.equal(geometry.segmentBytes, SMALL.segmentBytes);
  t.equal(geometry.casSlots, SMALL.casSlots);
  t.equal(geometry.blockBytes, 4096);
  const first = await openAndClose(path);
  t.same(first.geometry, geometry, 'open shows the geometry format returned');
  const second = await openAndClose(path);
  t.same(second.geometry, geometry, 'a reopen shows it again');
});

t.test('two formats give two different uuids', async (t) => {
  const a = await freshLun(t);
  const b = await freshLun(t);
  t.not(a.geometry.uuid, b.geometry.uuid);
});

t.test('the label is kept through open, reopen and a read-only open', async (t) => {
  const label = 'orders-α #7';
  const { path, geometry } = await freshLun(t, { ...SMALL, label });
  t.equal(geometry.label, label);
  t.equal((await openAndClose(path)).geometry.label, label);
  t.equal((await openAndClose(path)).geometry.label, label);
  t.equal((await openAndClose(path, { readOnly: true })).geometry.label, label);
});

t.test('a fresh LUN opens with an empty recovery report', async (t) => {
  const { path, geometry } = await freshLun(t);
  const { recovery } = await openAndClose(path);
  t.same(recovery.corruptions, []);
  t.same(recovery.tornTails, []);
  t.equal(recovery.dataRecords, 0);
  t.equal(recovery.releaseRecords, 0);
  t.equal(recovery.liveRecords, 0);
  t.equal(recovery.liveBytes, 0);
  t.equal(recovery.usedSegments, 0);
  t.equal(recovery.freeSegments, geometry.segmentCount);
  t.equal(recovery.primarySuperblockValid, true);
  t.equal(recovery.backupSuperblockValid, true);
});

t.test('format refuses a file holding a sanmq LUN with E_FOREIGN_DATA naming its uuid',
  async (t) => {
    const { path, geometry } = await freshLun(t);
    await expectError(t, Lun.format(path, SMALL), 'E_FOREIGN_DATA',
      `${path} already holds a sanmq LUN (uuid ${geometry.uuid}); pass force to format it again`);
    t.equal((await openAndClose(path)).geometry.uuid, geometry.uuid, 'the LUN is untouched');
  });

t.test('format refuses a file whose first block has the sanmq magic but a broken superblock',
  async (t) => {
    const { path } = await freshLun(t);
    await flipBit(path, 100);
    await expectError(t, Lun.format(path, SMALL), 'E_FOREIGN_DATA',
      `${path} already holds a sanmq LUN; pass force to format it again`);
  });

t.test('format with force over a sanmq LUN gives an empty LUN with a new uuid', async (t) => {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path);
  await lun.append(1, Buffer.from('old data'));
  await lun.close();
  const again = await Lun.format(path, { ...SMALL, force: true });
  t.not(again.uuid, geometry.uuid);
  const { recovery } = await openAndClose(path);
  t.equal(recovery.liveRecords, 0, 'the old record is gone');
  t.same(recovery.corruptions, [], 'old chunks are not mistaken for corruption');
});

t.test('format refuses a file with one non-zero byte, naming its offset', async (t) => {
  const path = join(testDir(t), 'dirty.img');
  const bytes = Buffer.alloc(SMALL.sizeBytes ?? 0);
  bytes[777_777] = 0x20;
  await writeFile(path, bytes);
  await expectError(t, Lun.format(path, SMALL), 'E_FOREIGN_DATA',
    `${path} holds non-zero data at offset 777777; pass force to overwrite it`);
  t.equal((await readBytes(path, 777_777, 1))[0], 0x20, 'the byte is untouched');
});

t.test('format finds one non-zero byte in the middle of a 1 GiB sparse file', async (t) => {
  const path = join(testDir(t), 'sparse.img');
  const gib = 1 << 30;
  const at = gib / 2 + 12_345;
  await writeFile(path, '');
  await truncate(path, gib);
  await writeBytes(path, at, Buffer.from([0x01]));
  await expectError(t, Lun.format(path, SMALL), 'E_FOREIGN_DATA',
    `${path} holds non-zero data at offset ${at}; pass force to overwrite it`);
  await expectError(t, Lun.format(path), 'E_FOREIGN_DATA',
    `${path} holds non-zero data at offset ${at}; pass force to overwrite it`);
});

t.test('format with force over a file with non-zero data gives a LUN that opens', async (t) => {
  const path = join(testDir(t), 'dirty.img');
  const bytes = Buffer.alloc(SMALL.sizeBytes ?? 0);
  for (let i = 0; i < bytes.length; i += 4096) bytes[i + 17] = 0xee;
  await writeFile(path, bytes);
  const geometry = await Lun.format(path, { ...SMALL, force: true });
  const { recovery, geometry: opened } = await openAndClose(path);
  t.same(opened, geometry);
  t.same(recovery.corruptions, []);
  t.equal(recovery.liveRecords, 0);
});

t.test('format of an all-zero file without sizeBytes takes the size of the file', async (t) => {
  const path = join(testDir(t), 'zeros.img');
  await writeFile(path, '');
  await truncate(path, 8 << 20);
  const geometry = await Lun.format(path, { segmentBytes: 65_536 });
  t.equal(geometry.sizeBytes, 8 << 20);
});

t.test('open of a file of random bytes fails with E_NOT_A_LUN', async (t) => {
  const path = join(testDir(t), 'random.img');
  await writeFile(path, Buffer.alloc(1 << 20, 0x5a));
  await garble(path, 0, 1 << 20, 42);
  await expectError(t, Lun.open(path), 'E_NOT_A_LUN',
    `${path} is not a sanmq LUN: no sanmq superblock (magic SANMQLUN not found)`);
});

t.test('open of an all-zero file fails with E_NOT_A_LUN', async (t) => {
  const path = join(testDir(t), 'zeros.img');
  await writeFile(path, Buffer.alloc(1 << 20));
  await expectError(t, Lun.open(path), 'E_NOT_A_LUN',
    `${path} is not a sanmq LUN: no sanmq superblock (magic SANMQLUN not found)`);
});

t.test('open of a file smaller than one block fails with E_NOT_A_LUN', async (t) => {
  const path = join(testDir(t), 'tiny.img');
  await writeFile(path, 'SANMQLUN');
  await expectError(t, Lun.open(path), 'E_NOT_A_LUN', `${path} is too small to hold a sanmq LUN`);
});

t.test('both superblocks of another format version with valid checksums give E_BAD_VERSION',
  async (t) => {
    const { path, geometry } = await freshLun(t);
    await setSuperblockVersion(path, 0, 2);
    await setSuperblockVersion(path, geometry.sizeBytes - geometry.blockBytes, 2);
    await expectError(t, Lun.open(path), 'E_BAD_VERSION',
      `${path} has an unsupported format version 2 (this build reads version 1)`);
  });

t.test('a primary superblock of another format version gives E_BAD_VERSION and is not rewritten',
  async (t) => {
    // A checksum-valid superblock of another version is not damage: a newer build wrote it.
    // Opening from the older backup and repairing the primary would downgrade that LUN.
    const { path } = await freshLun(t);
    await setSuperblockVersion(path, 0, 2);
    const primary = await readBytes(path, 0, SUPERBLOCK_BYTES);
    let opened: Lun | undefined;
    try {
      opened = await Lun.open(path);
    } catch (error) {
      t.equal((error as SanmqError).code, 'E_BAD_VERSION');
    }
    if (opened !== undefined) {
      t.fail('the LUN opened from its backup although its primary is of format version 2');
      await opened.close();
    }
    t.same(await readBytes(path, 0, SUPERBLOCK_BYTES), primary, 'the primary is unchanged');
  });

t.test('both superblocks damaged give E_CHECKSUM', async (t) => {
  const { path, geometry } = await freshLun(t);
  await flipBit(path, BLOCK_BYTES_OFFSET, 3);
  await flipBit(path, geometry.sizeBytes - geometry.blockBytes + BLOCK_BYTES_OFFSET, 3);
  await expectError(t, Lun.open(path), 'E_CHECKSUM',
    `${path}: superblock checksum mismatch and the backup copy is unusable`);
});

t.test('a damaged primary superblock is read from the backup and repaired', async (t) => {
  const { path, geometry } = await freshLun(t);
  const original = await readBytes(path, 0, geometry.blockBytes);
  await flipBit(path, 120, 1);
  const first = await openAndClose(path);
  t.equal(first.recovery.primarySuperblockValid, false);
  t.equal(first.recovery.backupSuperblockValid, true);
  t.same(first.geometry, geometry, 'the geometry comes from the backup');
  t.same(await readBytes(path, 0, geometry.blockBytes), original, 'the primary is rewritten');
  const second = await openAndClose(path);
  t.equal(second.recovery.primarySuperblockValid, true, 'a second open finds it valid');
  t.equal(second.recovery.backupSuperblockValid, true);
});

t.test('a damaged backup superblock is repaired from the primary', async (t) => {
  const { path, geometry } = await freshLun(t);
  const backupAt = geometry.sizeBytes - geometry.blockBytes;
  const original = await readBytes(path, backupAt, geometry.blockBytes);
  await garble(path, backupAt + 16, 16, 7);
  const first = await openAndClose(path);
  t.equal(first.recovery.primarySuperblockValid, true);
  t.equal(first.recovery.backupSuperblockValid, false);
  t.same(await readBytes(path, backupAt, geometry.blockBytes), original, 'the backup is rewritten');
  t.equal((await openAndClose(path)).recovery.backupSuperblockValid, true);
});

t.test('a read-only open of a LUN with a damaged primary does not repair it', async (t) => {
  const { path, geometry } = await freshLun(t);
  await flipBit(path, 120, 1);
  const damaged = await readBytes(path, 0, geometry.blockBytes);
  const { recovery } = await openAndClose(path, { readOnly: true });
  t.equal(recovery.primarySuperblockValid, false);
  t.same(await readBytes(path, 0, geometry.blockBytes), damaged, 'nothing was written');
});

t.test('a LUN of 16 KiB blocks with a damaged primary opens from its backup', async (t) => {
  const { path, geometry } = await freshLun(t, { ...SMALL, blockBytes: 16_384 });
  await flipBit(path, 60, 0);
  const { recovery, geometry: opened } = await openAndClose(path);
  t.equal(recovery.primarySuperblockValid, false);
  t.same(opened, geometry);
});

t.test('a LUN formatted smaller than its file opens from its backup when the primary is damaged',
  async (t) => {
    const path = join(testDir(t), 'big-file.img');
    await writeFile(path, '');
    await truncate(path, 64 << 20);
    const geometry = await Lun.format(path, SMALL);
    t.equal(geometry.sizeBytes, SMALL.sizeBytes, 'the LUN is the first 16 MiB of a 64 MiB file');
    await flipBit(path, 120, 1);
    let opened: { recovery: { primarySuperblockValid: boolean } } | undefined;
    try {
      opened = await openAndClose(path);
    } catch (error) {
      t.fail(`the backup at ${geometry.sizeBytes - geometry.blockBytes} was not found: ` +
        `${(error as SanmqError).code} ${(error as Error).message}`);
    }
    t.equal(opened?.recovery.primarySuperblockValid, false);
  });

t.test('open of a file truncated below its formatted size fails with E_GEOMETRY', async (t) => {
  const { path, geometry } = await freshLun(t);
  const shorter = geometry.sizeBytes / 2;
  await truncate(path, shorter);
  await expectError(t, Lun.open(path), 'E_GEOMETRY',
    `${path} holds ${shorter} bytes but its LUN was formatted with ${geometry.sizeBytes}`);
});

t.test('the smallest LUN holds 2 segments and one block less is refused with E_GEOMETRY',
  async (t) => {
    const blockBytes = 4096;
    const segmentBytes = 65_536;
    const casSlots = 16;
    const constants = formatConstants;
    // The layout of native/superblock.cc planGeometry: superblock, two copies of every slot,
    // two copies of every descriptor block, the log aligned to its segment size (at most
    // 1 MiB), and the backup superblock in the last block.
    const descriptorRegion = blockBytes + (constants.internalSlots + casSlots) * 2 * blockBytes;
    const perBlock =
      Math.floor((blockBytes - constants.descriptorHeaderBytes) / constants.descriptorBytes);
    const descriptorEnd = descriptorRegion + Math.ceil(2 / perBlock) * 2 * blockBytes;
    const align = Math.min(segmentBytes, 1 << 20);
    const logRegion = Math.ceil(descriptorEnd / align) * align;
    const smallest = logRegion + 2 * segmentBytes + blockBytes;
    const options = { segmentBytes, casSlots };
    const fits = await freshLun(t, { ...options, sizeBytes: smallest });
    t.equal(fits.geometry.segmentCount, 2);
    t.equal(fits.geometry.logRegionOffset, logRegion);
    const tooSmall = smallest - blockBytes;
    const path = join(testDir(t), 'small.img');
    await expectError(t, Lun.format(path, { ...options, sizeBytes: tooSmall }), 'E_GEOMETRY',
      `sizeBytes ${tooSmall} is too small: the LUN must hold at least 2 segments of ` +
      `${segmentBytes} bytes after its slot table`);
  });

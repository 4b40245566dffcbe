/**
 * Helpers for tests of the log: deterministic payloads, the on-disk places of chunks, descriptor
 * blocks and slot copies (computed from the LUN's geometry and the exported format constants;
 * the few header fields the tests decode are read at the offsets native/format.h gives them),
 * reading a page set back in full, and catching a coded rejection to inspect it.
 */
import {
  addressOffset,
  formatConstants,
  type Lun,
  type LunGeometry,
  type SanmqError,
} from '../../src/index.js';
import { readBytes, seededBytes } from './lun.js';

/** `length` bytes of seeded pseudo-random data: equal seeds give equal bytes. */
export function payload(length: number, seed: number): Buffer {
  return seededBytes(length, seed * 2654435761);
}

/** Bytes a record of `length` payload bytes takes in the log: header and padding included. */
export function paddedRecordBytes(length: number): number {
  const align = formatConstants.recordAlign;
  return Math.ceil((formatConstants.recordHeaderBytes + length) / align) * align;
}

/** The byte offset on the LUN of the record an address names (its generation tag dropped). */
export function offsetOf(address: number): number {
  return addressOffset(address);
}

/** Index of the segment holding the record at `address` (an address or a byte offset). */
export function segmentOf(geometry: LunGeometry, address: number): number {
  return Math.floor((offsetOf(address) - geometry.logRegionOffset) / geometry.segmentBytes);
}

/** Byte offset of the first byte of segment `index`. */
export function segmentStart(geometry: LunGeometry, index: number): number {
  return geometry.logRegionOffset + index * geometry.segmentBytes;
}

/**
 * The chunk that holds the first record of an append made alone in its flush: that record
 * follows the chunk header directly.
 */
export function chunkOfFirstRecord(address: number): number {
  return offsetOf(address) - formatConstants.chunkHeaderBytes;
}

/** Byte offset of byte `index` of the payload of the record at `address`. */
export function payloadByte(address: number, index: number): number {
  return offsetOf(address) + formatConstants.recordHeaderBytes + index;
}

export interface ChunkHeader {
  address: number;
  pageSet: number;
  chunkSeq: number;
  recordCount: number;
  /** Header and records, without the padding to the next block. */
  chunkBytes: number;
  /** Blocks the chunk occupies, padding included. */
  blockSpan: number;
}

const chunkMagic = 0x4b435153;  // "SQCK", as native/format.h and docs name it

/** Decodes the chunk header at `address` (no checksum check), or undefined if none is there. */
export async function readChunkHeader(
  path: string,
  geometry: LunGeometry,
  address: number,
): Promise<ChunkHeader | undefined> {
  const h = await readBytes(path, address, formatConstants.chunkHeaderBytes);
  if (h.readUInt32LE(4) !== chunkMagic) return undefined;
  const chunkBytes = h.readUInt32LE(28);
  return {
    address,
    pageSet: h.readUInt16LE(8),
    chunkSeq: Number(h.readBigUInt64LE(16)),
    recordCount: h.readUInt32LE(24),
    chunkBytes,
    blockSpan: Math.ceil(chunkBytes / geometry.blockBytes),
  };
}

/** Byte offset of copy `copy` (0 or 1) of descriptor block `block`. */
export function descriptorCopyOffset(geometry: LunGeometry, block: number, copy: number): number {
  return geometry.descriptorRegionOffset + (block * 2 + copy) * geometry.blockBytes;
}

/** The version stored in a descriptor block copy (valid or not). */
export async function descriptorCopyVersion(
  path: string,
  geometry: LunGeometry,
  block: number,
  copy: number,
): Promise<number> {
  const bytes = await readBytes(path, descriptorCopyOffset(geometry, block, copy) + 16, 8);
  return Number(bytes.readBigUInt64LE(0));
}

/**
 * State and flags of a segment's descriptor, from the descriptor block copy with the higher
 * version (checksums are not checked: for LUNs that no test damaged).
 */
export async function descriptorOf(
  path: string,
  geometry: LunGeometry,
  segment: number,
): Promise<{ state: number; flags: number }> {
  const perBlock = Math.floor((geometry.blockBytes - formatConstants.descriptorHeaderBytes) /
    formatConstants.descriptorBytes);
  const block = Math.floor(segment / perBlock);
  const versions = [await descriptorCopyVersion(path, geometry, block, 0),
    await descriptorCopyVersion(path, geometry, block, 1)];
  const copy = (versions[0] as number) > (versions[1] as number) ? 0 : 1;
  const at = descriptorCopyOffset(geometry, block, copy) + formatConstants.descriptorHeaderBytes +
    (segment % perBlock) * formatConstants.descriptorBytes;
  const bytes = await readBytes(path, at + 4, 2);  // u8 state, u8 flags
  return { state: bytes[0] as number, flags: bytes[1] as number };
}

/** Byte offset of copy `copy` of user slot `slot` (the internal slots come first). */
export function slotCopyOffset(geometry: LunGeometry, slot: number, copy: number): number {
  const index = formatConstants.internalSlots + slot;
  return geometry.slotRegionOffset + (index * 2 + copy) * geometry.blockBytes;
}

export interface ReadBack {
  address: number;
  seq: number;
  data: Buffer;
}

/** Every live record of a page set, through `lun.records()`, bounded by `limit`. */
export async function readPageSet(lun: Lun, pageSet: number, limit = 100_000): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  for await (const record of lun.records(pageSet)) {
    out.push(record);
    if (out.length > limit) throw new Error(`page set ${pageSet} holds more than ${limit} records`);
  }
  return out;
}

/** Resolves with the rejection of `promise`; fails if it resolves instead. */
export async function rejectionOf(promise: Promise<unknown>): Promise<SanmqError> {
  try {
    await promise;
  } catch (error) {
    return error as SanmqError;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** Polls `condition` every few milliseconds until it holds or `timeoutMs` passes. */
export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 10_000 && Date.now() < deadline; round++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return condition();
}

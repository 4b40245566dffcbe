/**
 * The native storage core's whole surface, declared as one interface, and the loader of the
 * addon. This is the only file that loads the `.node` file; everything else goes through the
 * typed classes of this folder. The on-disk constants and error codes come from the addon
 * itself (native/format.h, native/errors.h), so TypeScript never retypes them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { FormatOptions } from './lun.js';

export interface NativeConstants {
  formatVersion: number;
  blockBytesMin: number;
  blockBytesMax: number;
  segmentBytesMin: number;
  segmentBytesMax: number;
  segmentBytesDefault: number;
  pageSetCount: number;
  casSlotsDefault: number;
  casSlotsMax: number;
  casSlotBytesDefault: number;
  casSlotBytesMin: number;
  slotHeaderBytes: number;
  internalSlots: number;
  labelBytes: number;
  superblockBytes: number;
  chunkHeaderBytes: number;
  recordHeaderBytes: number;
  recordAlign: number;
  recordBytesMax: number;
  releaseEntryBytes: number;
  appendRecordsMax: number;
  appendReleasesMax: number;
  descriptorHeaderBytes: number;
  descriptorBytes: number;
  /** Addresses: the byte offset in the low bits, a generation tag in the bits above. */
  addressOffsetBits: number;
  addressTagBits: number;
}

export interface NativeGeometry {
  uuid: string;
  label: string;
  sizeBytes: number;
  blockBytes: number;
  segmentBytes: number;
  segmentCount: number;
  casSlots: number;
  casSlotBytes: number;
  slotRegionOffset: number;
  descriptorRegionOffset: number;
  descriptorBlocks: number;
  logRegionOffset: number;
  createdAtMs: number;
  appendBytesMax: number;
}

export interface NativeRecovery {
  scanMs: number;
  scannedBytes: number;
  chunks: number;
  dataRecords: number;
  releaseRecords: number;
  movedCopies: number;
  liveRecords: number;
  liveBytes: number;
  usedSegments: number;
  freeSegments: number;
  /** Descriptor-block copies found damaged or a version behind; the writer rewrites them. */
  descriptorCopiesBehind: number;
  nextRecordSeq: number;
  nextChunkSeq: number;
  primarySuperblockValid: boolean;
  backupSuperblockValid: boolean;
  corruptions: Array<{ address: number; reason: string }>;
  tornTails: Array<{ pageSet: number; address: number; bytes: number }>;
}

export interface NativeSegmentSpace {
  index: number;
  pageSet: number;
  generation: number;
  writtenBytes: number;
  liveBytes: number;
  liveRecords: number;
  records: number;
  tail: boolean;
  dependsOn: number;
  freeing: boolean;
}

export interface NativeSpace {
  segmentBytes: number;
  segmentCount: number;
  usedSegments: number;
  freeSegments: number;
  prefilledFreeSegments: number;
  /** Free segments kept for release records and compaction: data appends cannot take them. */
  reservedSegments: number;
  quarantinedSegments: number;
  logBytes: number;
  usedBytes: number;
  writtenBytes: number;
  freeBytes: number;
  liveBytes: number;
  liveRecords: number;
  segments: NativeSegmentSpace[];
}

export interface NativeStats {
  flushes: number;
  syncs: number;
  chunks: number;
  records: number;
  releases: number;
  moves: number;
  bytesWritten: number;
  allocations: number;
  frees: number;
  prefills: number;
  maxFlushRecords: number;
  /** Writer time (ns): planning and encoding, writing, fdatasync, applying, gathering. */
  planNs: number;
  writeNs: number;
  syncNs: number;
  applyNs: number;
  gatherNs: number;
  /** From handing completions to JavaScript to its next kick, over `jsRounds` deliveries. */
  jsNs: number;
  jsRounds: number;
}

export interface NativeCompaction {
  from: Float64Array;
  to: Float64Array;
  segments: number[];
  unreadable: number[];
}

export interface NativeMeasurement {
  syncOps: number;
  syncSeconds: number;
  syncP50Us: number;
  syncP99Us: number;
  sequentialBytes: number;
  sequentialSeconds: number;
  sparseOps: number;
  sparseSeconds: number;
  scratchBytes: number;
}

export interface NativeFaultCounters {
  ios: number;
  mutations: number;
  syncs: number;
  pendingWrites: number;
  crashed: boolean;
}

export type CrashMode = 'drop' | 'apply' | 'partial' | 'tear' | 'trash';
export type FailOn = 'any' | 'read' | 'write' | 'sync';
export type FailKind = 'eio' | 'enospc' | 'short';

export interface NativeFaultOptions {
  seed?: number;
  crashAtMutation?: number;
  crashMode?: CrashMode;
  sectorBytes?: number;
  failAtIo?: number;
  failOn?: FailOn;
  failKind?: FailKind;
  failPersistent?: boolean;
  lyingSync?: boolean;
  realSync?: boolean;
}

export interface NativeOpenOptions {
  mode?: 'exclusive' | 'readOnly' | 'shared';
  direct?: boolean;
  salvage?: boolean;
  lockTimeoutMs?: number;
  prefillSegmentsAhead?: number;
  pendingBytesMax?: number;
  spinUs?: number;
  gatherUs?: number;
  faults?: NativeFaultOptions;
}

/** What the native format() takes: the public options without the progress callback. */
export type NativeFormatOptions = Omit<FormatOptions, 'onProgress'>;

/**
 * Completions of submitted requests, packed: [id, status, count, address × count, …]. Status 0
 * is success; k > 0 refers to extras[k - 1]: an Error with a code, or a request's result.
 */
export type NativeCompletion = (
  packed: Float64Array,
  extras: Array<Error | NativeCompaction | NativeMeasurement>,
) => void;

export interface NativeLun {
  geometry(): NativeGeometry;
  recovery(): NativeRecovery;
  /** Stages an append on the JS thread; the writer sees it at the next kick(). */
  submit(pageSet: number, records: Uint8Array | Uint8Array[], releases?: Float64Array): number;
  compact(options: { pageSet?: number; liveRatioMax?: number; segmentsMax?: number }): number;
  measure(options: { durationMs?: number; scratchBytes?: number; sparse?: boolean }): number;
  kick(): void;
  read(address: number): Promise<Buffer>;
  liveRecords(
    pageSet: number,
  ): Promise<{ addresses: Float64Array; seqs: Float64Array; lengths: Float64Array }>;
  readHeads(addresses: Float64Array, headBytes: number):
  Promise<{ heads: Buffer; lengths: Float64Array }>;
  pageSetOf(address: number): number;
  space(): NativeSpace;
  stats(): NativeStats;
  slotRead(slot: number): Promise<Buffer>;
  slotCas(slot: number, before: Uint8Array, after: Uint8Array): Promise<boolean>;
  faultCounters(): NativeFaultCounters;
  faultCrash(mode: CrashMode): void;
  faultFlipBit(offset: number, bit: number): void;
  faultArm(options: {
    failAtIo: number;
    failOn?: FailOn;
    failKind?: FailKind;
    failPersistent?: boolean;
  }): void;
  close(): Promise<void>;
}

export interface NativeBinding {
  crc32c(data: Uint8Array, crc?: number): number;
  crc32cPortable(data: Uint8Array, crc?: number): number;
  readonly crc32cImplementation: 'hardware' | 'portable';
  readonly constants: NativeConstants;
  readonly errorCodes: string[];
  format(
    path: string,
    options: NativeFormatOptions,
    onProgress?: (doneBytes: number, totalBytes: number) => void,
  ): Promise<NativeGeometry>;
  open(path: string, options: NativeOpenOptions, onComplete: NativeCompletion): Promise<NativeLun>;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('sanmq: cannot find the package root (binding.gyp)');
    dir = parent;
  }
}

function load(): NativeBinding {
  const root = packageRoot();
  const file = join(root, 'build', 'Release', 'sanmq.node');
  if (!existsSync(file)) {
    throw new Error(`sanmq: the native core is not built (${file} is missing); run npm install`);
  }
  return createRequire(import.meta.url)(file) as NativeBinding;
}

export const binding: NativeBinding = load();
export const constants: NativeConstants = binding.constants;

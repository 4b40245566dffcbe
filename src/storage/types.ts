/**
 * The types of the storage facade: addresses, the options of format, open, append and
 * compact, and what reads, compaction and the disk measurement return. lun.ts implements
 * them and re-exports them.
 */
import type {
  NativeFaultOptions,
  NativeGeometry,
  NativeRecovery,
  NativeSpace,
  NativeStats,
} from './binding.js';

/**
 * Where a record lives. An opaque number: its low 48 bits are the record's byte offset on the
 * LUN (see {@link addressOffset}), and 5 bits above them guard against using the address
 * after the record was released and its space reused (such an address then names no record:
 * E_NOT_LIVE). Valid until the record is released or moved by compaction.
 */
export type Address = number;

export type LunGeometry = NativeGeometry;
export type RecoveryReport = NativeRecovery;
export type SpaceReport = NativeSpace;
export type LunStats = NativeStats;

export interface FormatOptions {
  /** Size of the LUN; required for a new or empty file, default: the whole device or file. */
  sizeBytes?: number;
  /** I/O unit, a power of two from 4096 to 65536 (default 4096). */
  blockBytes?: number;
  /** Allocation unit of the log (default 4 MiB). */
  segmentBytes?: number;
  /** Number of compare-and-swap slots (default 256). */
  casSlots?: number;
  /** Bytes of every slot image (default 256). */
  casSlotBytes?: number;
  label?: string;
  /** Format over existing data (a sanmq LUN or anything else). */
  force?: boolean;
  /** Zero-fill every segment now, so the log never writes into unallocated blocks. */
  prefill?: boolean;
  direct?: boolean;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface OpenOptions {
  readOnly?: boolean;
  /** O_DIRECT: bypass the page cache (alignment is checked by sanmq before every I/O). */
  direct?: boolean;
  /** Open despite corruption; damaged places stay listed in `recovery.corruptions`. */
  salvage?: boolean;
  /** Longest wait for a slot lock held by another opener (default 30 000). */
  lockTimeoutMs?: number;
  /** Free segments the writer keeps zero-filled ahead of use (default 4; 0 turns it off). */
  prefillSegmentsAhead?: number;
  /** Bytes of appends that may wait for the writer before append rejects with E_BUSY. */
  pendingBytesMax?: number;
  /** How long the idle writer polls for work before it sleeps (default 50 µs; 0: never). */
  spinUs?: number;
  /**
   * How long the writer waits, after handing completions to JavaScript, for the appends
   * their callers make next, so that they share one flush (default 250 µs; 0: never).
   */
  gatherUs?: number;
  /** Test only: run over a fault-injecting device (see FaultInjector). */
  faults?: NativeFaultOptions;
}

export interface AppendOptions {
  /** Records of the same page set to release in the same atomic chunk. */
  release?: readonly Address[];
}

export interface LogRecord {
  address: Address;
  /** LUN-wide append order; records keep it when compaction moves them. */
  seq: number;
  data: Buffer;
}

/** A batch of record heads (see Lun.heads): record i's head is heads[i*headBytes ...]. */
export interface RecordHeads {
  addresses: Float64Array;
  seqs: Float64Array;
  lengths: Float64Array;
  heads: Buffer;
  headBytes: number;
}

export interface CompactOptions {
  /** Only this page set (default: all). */
  pageSet?: number;
  /** Move out of segments whose live bytes are at most this share of their written bytes. */
  liveRatioMax?: number;
  /** At most this many segments per call (default 4). */
  segmentsMax?: number;
}

export interface CompactionResult {
  /** Old and new address of every moved record. Use the new ones from now on. */
  moved: Array<{ from: Address; to: Address }>;
  /** The segments emptied; they are freed once nothing older depends on them. */
  segments: number[];
  /** Live records that failed verification and were left in place. */
  unreadable: Address[];
}

export interface DiskLimits {
  /** 4 KiB write + fdatasync per operation, into blocks written before. */
  fdatasyncPerSecond: number;
  fdatasyncP50Us: number;
  fdatasyncP99Us: number;
  /** 1 MiB writes, each followed by fdatasync. */
  sequentialBytesPerSecond: number;
  /** 4 KiB write + fdatasync into holes of a sparse file (undefined when not measured). */
  firstWritePerSecond: number | undefined;
  scratchBytes: number;
}

/**
 * The storage core's typed facade: a LUN with numbered, log-structured page sets, durable
 * appends (group-committed: concurrent appends share one fdatasync), verified reads, releases,
 * compaction, space accounting and the compare-and-swap slot table. Every method that does
 * I/O returns a promise; none blocks the event loop. Appends made in the same tick of the
 * event loop are handed to the native writer together, at the end of that tick.
 */
import { Errors, fromNative, SanmqError } from '../errors.js';
import {
  binding,
  constants,
  type NativeCompaction,
  type NativeLun,
  type NativeMeasurement,
} from './binding.js';
import { FaultInjector } from './faults.js';
import {
  address as requireAddress,
  formatOptions,
  integer,
  nativeOpenOptions,
  optionalBoolean,
  optionalInteger,
  pageSet as requirePageSet,
  rejectUnknown,
  requireObject,
  requirePath,
} from './options.js';
import { SlotTable } from './slots.js';
import type {
  Address,
  LunGeometry,
  RecoveryReport,
  SpaceReport,
  LunStats,
  FormatOptions,
  OpenOptions,
  AppendOptions,
  LogRecord,
  RecordHeads,
  CompactOptions,
  CompactionResult,
  DiskLimits,
} from './types.js';

export type * from './types.js';

const ADDRESS_OFFSET_SPAN = 2 ** constants.addressOffsetBits;

/** The byte offset on the LUN of the record an address names. */
export function addressOffset(address: Address): number {
  return requireAddress(address, 'address') % ADDRESS_OFFSET_SPAN;
}

interface Pending {
  resolve: (value: never) => void;
  reject: (error: SanmqError) => void;
}

export class Lun {
  readonly #native: NativeLun;
  readonly #pending = new Map<number, Pending>();
  #kickScheduled = false;
  #closed = false;
  readonly path: string;
  readonly geometry: LunGeometry;
  readonly recovery: RecoveryReport;
  readonly readOnly: boolean;
  readonly slots: SlotTable;
  /** Present when the LUN was opened with `options.faults`. */
  readonly faults: FaultInjector | undefined;

  private constructor(path: string, native: NativeLun, readOnly: boolean, faulty: boolean) {
    this.path = path;
    this.#native = native;
    this.readOnly = readOnly;
    this.geometry = native.geometry();
    this.recovery = native.recovery();
    this.slots = new SlotTable(native, () => this.#closed, readOnly);
    this.faults = faulty ? new FaultInjector(native) : undefined;
  }

  /**
   * Formats `path` (a regular file, created if missing, or a block device) as a sanmq LUN.
   * Refuses a file or device holding a sanmq LUN or any other non-zero data unless `force`.
   */
  static async format(path: string, options: FormatOptions = {}): Promise<LunGeometry> {
    requirePath(path);
    const { native, onProgress } = formatOptions(options);
    try {
      return await binding.format(path, native, onProgress);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Opens a LUN: the only writer of its log (or a reader with `readOnly`), recovering it. */
  static async open(path: string, options: OpenOptions = {}): Promise<Lun> {
    requirePath(path);
    const native = nativeOpenOptions(options, 'Lun.open');
    let lun: Lun | undefined;
    try {
      const handle = await binding.open(path, native, (packed, extras) => {
        if (lun !== undefined) lun.#complete(packed, extras);
      });
      lun = new Lun(path, handle, native.mode === 'readOnly', native.faults !== undefined);
      return lun;
    } catch (error) {
      throw fromNative(error);
    }
  }

  /**
   * Attaches to a LUN for its slot table only, beside its writer (in this process or
   * another). Slot updates are atomic across every attachment.
   */
  static async attach(path: string, options: Pick<OpenOptions, 'lockTimeoutMs' | 'direct'> = {}):
  Promise<SlotTable> {
    requirePath(path);
    const o = requireObject(options, 'options');
    rejectUnknown(o, ['lockTimeoutMs', 'direct'], 'Lun.attach');
    const native = { ...nativeOpenOptions(o, 'Lun.attach'), mode: 'shared' as const };
    try {
      const handle = await binding.open(path, native, () => undefined);
      let closed = false;
      return new SlotTable(handle, () => closed, false, async () => {
        if (closed) throw Errors.closed('the attachment');
        closed = true;
        await handle.close();
      });
    } catch (error) {
      throw fromNative(error);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Appends records to a page set. Resolves with their addresses once they are durable; the
   * records (and the releases in `options.release`) are all on the LUN after a crash, or none.
   */
  append(pageSet: number, records: Uint8Array | readonly Uint8Array[],
    options?: AppendOptions): Promise<Address[]> {
    try {
      this.#writable();
      requirePageSet(pageSet);
      const list = this.#records(records);
      const release = options === undefined ? undefined : this.#releases(options);
      return this.#submit<Address[]>(this.#native.submit(pageSet, list, release));
    } catch (error) {
      return Promise.reject(fromNative(error));
    }
  }

  /**
   * Releases records durably; their space is reused once whole segments are released. With
   * `options.pageSet`, the caller says that every record is of that page set (the writer checks
   * it), which spares looking each one up; up to 4096 addresses then go in one atomic chunk.
   */
  async release(addresses: readonly Address[], options?: { pageSet?: number }): Promise<void> {
    this.#writable();
    if (!Array.isArray(addresses) || addresses.length === 0) {
      throw Errors.invalidArgument('addresses must be a non-empty array of addresses');
    }
    if (options?.pageSet !== undefined) {
      requirePageSet(options.pageSet);
      const appends: Array<Promise<Address[]>> = [];
      try {
        for (let i = 0; i < addresses.length; i += constants.appendReleasesMax) {
          const part = new Float64Array(addresses.length <= constants.appendReleasesMax ? addresses
            : addresses.slice(i, i + constants.appendReleasesMax));
          part.forEach((value, k) => requireAddress(value, `addresses[${i + k}]`));
          appends.push(this.#submit<Address[]>(this.#native.submit(options.pageSet, [], part)));
        }
      } catch (error) {
        throw fromNative(error);
      }
      await Promise.all(appends);
      return;
    }
    const byPageSet = new Map<number, number[]>();
    addresses.forEach((value: unknown, i) => {
      const at = requireAddress(value, `addresses[${i}]`);
      let owner: number;
      try {
        owner = this.#native.pageSetOf(at);
      } catch (error) {
        throw fromNative(error);
      }
      const list = byPageSet.get(owner) ?? [];
      list.push(at);
      byPageSet.set(owner, list);
    });
    const appends: Array<Promise<Address[]>> = [];
    try {
      for (const [owner, list] of byPageSet) {
        for (let i = 0; i < list.length; i += constants.appendReleasesMax) {
          const part = new Float64Array(list.slice(i, i + constants.appendReleasesMax));
          appends.push(this.#submit<Address[]>(this.#native.submit(owner, [], part)));
        }
      }
    } catch (error) {
      throw fromNative(error);
    }
    await Promise.all(appends);
  }

  /** Reads a live record, verifying its checksum and identity first. */
  async read(address: Address): Promise<Buffer> {
    this.#open();
    requireAddress(address, 'address');
    try {
      return await this.#native.read(address);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** The live records of a page set in append order (seq), read and verified in batches. */
  async *records(pageSet: number): AsyncGenerator<LogRecord> {
    this.#open();
    requirePageSet(pageSet);
    let live;
    try {
      live = await this.#native.liveRecords(pageSet);
    } catch (error) {
      throw fromNative(error);
    }
    const window = 32;
    const reads: Array<Promise<Buffer | undefined>> = [];
    const start = (i: number) => {
      const read = this.#native.read(live.addresses[i] as number).catch((error: unknown) => {
        const coded = fromNative(error);
        if (coded.code === 'E_NOT_LIVE') return undefined;  // released meanwhile
        throw coded;
      });
      // Read-ahead may fail before its turn, or after the caller stopped iterating: it is
      // awaited (and its error thrown) in order, so it must not count as unhandled meanwhile.
      read.catch(() => undefined);
      reads[i] = read;
    };
    for (let i = 0; i < Math.min(window, live.addresses.length); i++) start(i);
    for (let i = 0; i < live.addresses.length; i++) {
      if (i + window < live.addresses.length) start(i + window);
      const data = await reads[i];
      delete reads[i];
      if (data !== undefined) {
        yield { address: live.addresses[i] as number, seq: live.seqs[i] as number, data };
      }
    }
  }

  /**
   * The live records of a page set in append order (seq), in batches, with only the first
   * `headBytes` of each payload (zero-padded; `lengths` gives each payload's real length).
   * Every record is still read whole and verified; neighbours are read together, so this
   * reads the log at sequential speed. Mount uses it to rebuild an index from record heads.
   */
  async *heads(pageSet: number, headBytes: number, batchRecords = 65536):
  AsyncGenerator<RecordHeads> {
    this.#open();
    requirePageSet(pageSet);
    integer(headBytes, 'headBytes', 1, 4096);
    integer(batchRecords, 'batchRecords', 1, 1 << 20);
    let live;
    try {
      live = await this.#native.liveRecords(pageSet);
    } catch (error) {
      throw fromNative(error);
    }
    const total = live.addresses.length;
    const readBatch = (start: number) => {
      const addresses = live.addresses.subarray(start, Math.min(total, start + batchRecords));
      const read = this.#native.readHeads(addresses, headBytes);
      read.catch(() => undefined);  // awaited in turn below; not unhandled meanwhile
      return { start, addresses, read };
    };
    // The next batch is read while the caller works through this one.
    let next = total > 0 ? readBatch(0) : undefined;
    while (next !== undefined) {
      const current = next;
      next = current.start + batchRecords < total ? readBatch(current.start + batchRecords)
        : undefined;
      let read;
      try {
        read = await current.read;
      } catch (error) {
        throw fromNative(error);
      }
      yield { addresses: current.addresses,
        seqs: live.seqs.subarray(current.start, current.start + current.addresses.length),
        lengths: read.lengths, heads: read.heads, headBytes };
    }
  }

  /**
   * Reads the records at `addresses` together (neighbours in one read), verifying each, and
   * returns the first `headBytes` of each payload (zero-padded) with each payload's length: a
   * record no longer than `headBytes` comes back whole. Rejects with E_NOT_LIVE if one of them
   * is not live.
   */
  async readHeads(addresses: readonly Address[], headBytes: number):
  Promise<{ heads: Buffer; lengths: Float64Array }> {
    this.#open();
    integer(headBytes, 'headBytes', 1, 4096);
    if (!Array.isArray(addresses) || addresses.length === 0 || addresses.length > 1 << 20) {
      throw Errors.invalidArgument('addresses must be an array of 1 to 1,048,576 addresses');
    }
    addresses.forEach((value: unknown, i) => requireAddress(value, `addresses[${i}]`));
    try {
      return await this.#native.readHeads(new Float64Array(addresses), headBytes);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Moves live records out of sparse segments so those segments can be reused. */
  compact(options: CompactOptions = {}): Promise<CompactionResult> {
    try {
      this.#writable();
      const o = requireObject(options, 'options');
      rejectUnknown(o, ['pageSet', 'liveRatioMax', 'segmentsMax'], 'compact');
      const request: { pageSet?: number; liveRatioMax?: number; segmentsMax?: number } = {};
      if (o['pageSet'] !== undefined) request.pageSet = requirePageSet(o['pageSet']);
      const ratio = o['liveRatioMax'];
      if (ratio !== undefined) {
        if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 0.9)) {
          throw Errors.invalidArgument('options.liveRatioMax must be a number from 0 to 0.9');
        }
        request.liveRatioMax = ratio;
      }
      const segmentsMax = optionalInteger(o['segmentsMax'], 'options.segmentsMax', 1, 1024);
      if (segmentsMax !== undefined) request.segmentsMax = segmentsMax;
      return this.#submit<NativeCompaction>(this.#native.compact(request)).then((r) => ({
        moved: Array.from(r.from, (from, i) => ({ from, to: r.to[i] as number })),
        segments: r.segments,
        unreadable: r.unreadable,
      }));
    } catch (error) {
      return Promise.reject(fromNative(error));
    }
  }

  /** Segments, free and used space, and live bytes (per segment too). */
  space(): SpaceReport {
    this.#open();
    try {
      return this.#native.space();
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Counters of the writer: flushes, syncs, records, allocations, frees … */
  stats(): LunStats {
    this.#open();
    if (this.readOnly) throw Errors.readOnly();
    try {
      return this.#native.stats();
    } catch (error) {
      throw fromNative(error);
    }
  }

  /**
   * Measures the disk under this LUN through its own file descriptor, in free segments: the
   * durable 4 KiB write rate, sequential durable MB/s and, with `sparse`, first writes.
   */
  measureDisk(options: { durationMs?: number; scratchBytes?: number; sparse?: boolean } = {}):
  Promise<DiskLimits> {
    try {
      this.#writable();
      const o = requireObject(options, 'options');
      rejectUnknown(o, ['durationMs', 'scratchBytes', 'sparse'], 'measureDisk');
      const request: { durationMs?: number; scratchBytes?: number; sparse?: boolean } = {};
      const durationMs = optionalInteger(o['durationMs'], 'options.durationMs', 10, 600_000);
      if (durationMs !== undefined) request.durationMs = durationMs;
      const scratch = optionalInteger(o['scratchBytes'], 'options.scratchBytes', 1, 2 ** 40);
      if (scratch !== undefined) request.scratchBytes = scratch;
      const sparse = optionalBoolean(o['sparse'], 'options.sparse');
      if (sparse !== undefined) request.sparse = sparse;
      return this.#submit<NativeMeasurement>(this.#native.measure(request)).then((m) => ({
        fdatasyncPerSecond: m.syncOps / m.syncSeconds,
        fdatasyncP50Us: m.syncP50Us,
        fdatasyncP99Us: m.syncP99Us,
        sequentialBytesPerSecond: m.sequentialBytes / m.sequentialSeconds,
        firstWritePerSecond: m.sparseOps > 0 ? m.sparseOps / m.sparseSeconds : undefined,
        scratchBytes: m.scratchBytes,
      }));
    } catch (error) {
      return Promise.reject(fromNative(error));
    }
  }

  /** Completes what the writer holds, then releases the LUN. Later calls reject E_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) throw Errors.closed();
    this.#closed = true;
    try {
      await this.#native.close();
    } catch (error) {
      throw fromNative(error);
    } finally {
      for (const pending of this.#pending.values()) pending.reject(Errors.closed());
      this.#pending.clear();
    }
  }

  #open(): void {
    if (this.#closed) throw Errors.closed();
  }

  #writable(): void {
    this.#open();
    if (this.readOnly) throw Errors.readOnly();
  }

  /** Validates records; one record is passed on as it is (the native side takes either). */
  #records(records: Uint8Array | readonly Uint8Array[]): Uint8Array | Uint8Array[] {
    if (records instanceof Uint8Array) {
      if (records.byteLength > constants.recordBytesMax) {
        throw Errors.recordTooLarge(
          `records[0] holds ${records.byteLength} bytes; a record holds at most ${constants.recordBytesMax}`);
      }
      const encoded = (constants.recordHeaderBytes + records.byteLength + 7) & ~7;
      if (encoded > this.geometry.appendBytesMax) {
        throw Errors.recordTooLarge(
          `the records of one append must fit in one segment: at most ${this.geometry.appendBytesMax} bytes encoded, got ${encoded}`);
      }
      return records;
    }
    const list = records;
    if (!Array.isArray(list) || list.length === 0) {
      throw Errors.invalidArgument('records must be a Buffer or a non-empty array of Buffers');
    }
    if (list.length > constants.appendRecordsMax) {
      throw Errors.invalidArgument(
        `an append holds at most ${constants.appendRecordsMax} records, got ${list.length}`);
    }
    let encoded = 0;
    for (let i = 0; i < list.length; i++) {
      const record: unknown = list[i];
      if (!(record instanceof Uint8Array)) {
        throw Errors.invalidArgument(`records[${i}] must be a Buffer or Uint8Array`);
      }
      if (record.byteLength > constants.recordBytesMax) {
        throw Errors.recordTooLarge(
          `records[${i}] holds ${record.byteLength} bytes; a record holds at most ${constants.recordBytesMax}`);
      }
      encoded += (constants.recordHeaderBytes + record.byteLength + 7) & ~7;
    }
    if (encoded > this.geometry.appendBytesMax) {
      throw Errors.recordTooLarge(
        `the records of one append must fit in one segment: at most ${this.geometry.appendBytesMax} bytes encoded, got ${encoded}`);
    }
    return list as Uint8Array[];
  }

  #releases(options: AppendOptions | undefined): Float64Array | undefined {
    if (options === undefined) return undefined;
    const o = requireObject(options, 'options');
    rejectUnknown(o, ['release'], 'append');
    const release = o['release'];
    if (release === undefined) return undefined;
    if (!Array.isArray(release)) throw Errors.invalidArgument('options.release must be an array of addresses');
    if (release.length > constants.appendReleasesMax) {
      throw Errors.invalidArgument(
        `options.release holds at most ${constants.appendReleasesMax} addresses, got ${release.length}`);
    }
    release.forEach((value: unknown, i) => requireAddress(value, `options.release[${i}]`));
    return release.length === 0 ? undefined : new Float64Array(release as number[]);
  }

  /** Registers the promise of a request the native side has just accepted (its id). */
  #submit<T>(id: number): Promise<T> {
    const promise = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: never) => void, reject });
    });
    this.#scheduleKick();
    return promise;
  }

  #scheduleKick(): void {
    if (this.#kickScheduled) return;
    this.#kickScheduled = true;
    queueMicrotask(() => {
      this.#kickScheduled = false;
      if (!this.#closed) this.#native.kick();
    });
  }

  #complete(packed: Float64Array, extras: Array<Error | NativeCompaction | NativeMeasurement>): void {
    let i = 0;
    while (i < packed.length) {
      const id = packed[i] as number;
      const status = packed[i + 1] as number;
      const count = packed[i + 2] as number;
      const pending = this.#pending.get(id);
      this.#pending.delete(id);
      if (pending !== undefined) {
        if (status === 0) {
          let addresses: number[];
          if (count === 1) {
            addresses = [packed[i + 3] as number];  // the common case, one small literal
          } else {
            addresses = new Array<number>(count);
            for (let k = 0; k < count; k++) addresses[k] = packed[i + 3 + k] as number;
          }
          pending.resolve(addresses as never);
        } else {
          const extra = extras[status - 1];
          if (extra instanceof Error) pending.reject(fromNative(extra));
          else pending.resolve(extra as never);
        }
      }
      i += 3 + count;
    }
    // This kick runs once the continuations of the resolutions above have all run, however
    // long their chains of awaits (a controller's commit is a dozen): the appends they make go
    // to the writer together, and the writer, which waits for this kick before its next flush
    // (gatherUs), lets them share it.
    setImmediate(() => {
      if (!this.#closed) this.#native.kick();
    });
  }
}

/** CRC32C (Castagnoli) as the LUN uses it; `crc` continues an earlier value. */
export function crc32c(data: Uint8Array, crc = 0): number {
  if (!(data instanceof Uint8Array)) throw Errors.invalidArgument('data must be a Buffer or Uint8Array');
  integer(crc, 'crc', 0, 0xffffffff);
  return binding.crc32c(data, crc);
}

/** Which CRC32C path this machine uses: "hardware" (SSE4.2 / ARMv8 CRC) or "portable". */
export const crc32cImplementation = binding.crc32cImplementation;

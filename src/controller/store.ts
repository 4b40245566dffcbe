/**
 * The controller's side of the storage core: appends and releases on the LUN's page sets,
 * reads of message records (through a bounded cache; non-persistent records live only in
 * memory), compaction driven by free space, and fail-stop. Every operation that names an
 * existing record's address runs inside a gate that compaction closes while it moves records,
 * because a move changes addresses: the controller learns the new ones before anyone uses an
 * address again.
 */
import { Errors, SanmqError, fromNative, type ErrorCode } from '../errors.js';
import type { Lun } from '../storage/lun.js';
import { constants } from '../storage/binding.js';
import { MessageIndex, NO_ADDRESS } from './message-index.js';

/**
 * Addresses to release: a list, or a function that reads them inside the gate (so that a
 * compaction that ran while the caller waited has already updated them).
 */
export type Addresses = readonly number[] | (() => readonly number[]);

export const PAGE_SET_CATALOG = 0;
const SPACE_CHECK_MS = 20;
export const PAGE_SET_MESSAGES = 1;

/** Errors after which the controller stops acknowledging anything (fail-stop). */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>(
  ['E_IO', 'E_FAILED', 'E_CRASHED', 'E_CORRUPT', 'E_CHECKSUM', 'E_INTERNAL']);

export interface StoreOptions {
  cacheBytes: number;
  /** Compact when fewer than this share of the segments is free (0..1). */
  compactBelowFreeRatio: number;
}

export interface StoreStats {
  cacheBytes: number;
  cacheEntries: number;
  cacheHits: number;
  cacheMisses: number;
  nonPersistentBytes: number;
  compactions: number;
  movedRecords: number;
}

/**
 * A bounded cache of records by index slot. When it is full it admits nothing new rather than
 * evicting: queues are consumed oldest first, so the records already cached are the ones the
 * next gets want, and a backlog larger than the cache is read from the LUN only past its head.
 */
class RecordCache {
  readonly #entries = new Map<number, Buffer>();
  readonly #bytesMax: number;
  bytes = 0;
  hits = 0;
  misses = 0;

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(slot: number): Buffer | undefined {
    const record = this.#entries.get(slot);
    if (record === undefined) this.misses++;
    else this.hits++;
    return record;
  }

  set(slot: number, record: Buffer): void {
    this.delete(slot);
    if (this.bytes + record.length > this.#bytesMax) return;
    this.#entries.set(slot, record);
    this.bytes += record.length;
  }

  delete(slot: number): void {
    const record = this.#entries.get(slot);
    if (record === undefined) return;
    this.#entries.delete(slot);
    this.bytes -= record.length;
  }
}

export class MessageStore {
  readonly lun: Lun;
  readonly index = new MessageIndex();
  readonly #cache: RecordCache;
  readonly #nonPersistent = new Map<number, Buffer>();
  #nonPersistentBytes = 0;
  readonly #options: StoreOptions;
  #inflight = 0;
  #idle: (() => void) | undefined;
  #compaction: Promise<void> | undefined;
  #compactions = 0;
  #movedRecords = 0;
  #spaceCheckedAt = -Infinity;
  #failure: SanmqError | undefined;
  /** Told of every move so that addresses held outside the index are updated too. */
  onMoves: (moves: Map<number, number>) => void = () => undefined;
  onFailure: (error: SanmqError) => void = () => undefined;

  constructor(lun: Lun, options: StoreOptions) {
    this.lun = lun;
    this.#options = options;
    this.#cache = new RecordCache(options.cacheBytes);
  }

  get failure(): SanmqError | undefined {
    return this.#failure;
  }

  /** Rejects when the controller has stopped after an I/O error. */
  check(): void {
    if (this.#failure !== undefined) {
      throw new SanmqError('E_FAILED',
        `the controller stopped after an error (${this.#failure.code}: ${this.#failure.message}); ` +
        'unmount and mount again to recover from the LUN', { cause: this.#failure.code });
    }
  }

  /** Runs `work` inside the gate that compaction closes. */
  async #gated<T>(work: () => Promise<T>): Promise<T> {
    this.check();
    while (this.#compaction !== undefined) await this.#compaction.catch(() => undefined);
    this.#inflight++;
    try {
      return await work();
    } catch (error) {
      throw this.#classify(error);
    } finally {
      if (--this.#inflight === 0 && this.#idle !== undefined) this.#idle();
    }
  }

  #classify(error: unknown): SanmqError {
    const coded = fromNative(error);
    if (FATAL.has(coded.code) && this.#failure === undefined) {
      this.#failure = coded;
      this.onFailure(coded);
    }
    return coded;
  }

  /**
   * Appends records to a page set, releasing `release` (addresses of that page set) in the
   * same atomic chunk; resolves once durable. A full LUN gets one compaction and one retry.
   */
  append(pageSet: number, records: Buffer[], release: Addresses = []): Promise<number[]> {
    return this.#gated(async () => {
      const attempt = () => {
        const list = typeof release === 'function' ? release() : release;
        return this.lun.append(pageSet, records.length === 1 ? records[0] as Buffer : records,
          list.length > 0 ? { release: list } : undefined);
      };
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof SanmqError) || error.code !== 'E_LUN_FULL') throw error;
      }
      await this.#compactInside(0.9);
      return await attempt();
    });
  }

  /** Releases records durably, in as many chunks as the core needs. */
  release(release: Addresses): Promise<void> {
    if (typeof release !== 'function' && release.length === 0) return Promise.resolve();
    return this.#gated(async () => {
      const addresses = typeof release === 'function' ? release() : release;
      for (let i = 0; i < addresses.length; i += constants.appendReleasesMax) {
        await this.lun.release(addresses.slice(i, i + constants.appendReleasesMax));
      }
    }).then(() => this.#maybeCompact());
  }

  /** The record of an index slot: from the cache, the non-persistent map or the LUN. */
  record(slot: number): Promise<Buffer> {
    const address = this.index.address[slot] as number;
    if (address === NO_ADDRESS) {
      const record = this.#nonPersistent.get(slot);
      if (record === undefined) return Promise.reject(Errors.internal(`slot ${slot} has no record`));
      return Promise.resolve(record);
    }
    const cached = this.#cache.get(slot);
    if (cached !== undefined) return Promise.resolve(cached);
    return this.#gated(() => this.lun.read(this.index.address[slot] as number));
  }

  /** Reads a record by address (for records outside the index: unit puts). */
  read(address: () => number): Promise<Buffer> {
    return this.#gated(() => this.lun.read(address()));
  }

  remember(slot: number, record: Buffer): void {
    if (this.index.address[slot] === NO_ADDRESS) {
      this.#nonPersistent.set(slot, record);
      this.#nonPersistentBytes += record.length;
    } else {
      this.#cache.set(slot, record);
    }
  }

  forget(slot: number): void {
    const record = this.#nonPersistent.get(slot);
    if (record !== undefined) {
      this.#nonPersistent.delete(slot);
      this.#nonPersistentBytes -= record.length;
    }
    this.#cache.delete(slot);
  }

  stats(): StoreStats {
    return {
      cacheBytes: this.#cache.bytes,
      cacheEntries: this.#cache.size,
      cacheHits: this.#cache.hits,
      cacheMisses: this.#cache.misses,
      nonPersistentBytes: this.#nonPersistentBytes,
      compactions: this.#compactions,
      movedRecords: this.#movedRecords,
    };
  }

  /** Compacts when free space is short; never more than one compaction at a time. */
  #maybeCompact(): void {
    if (this.#compaction !== undefined || this.#failure !== undefined || this.lun.closed) return;
    // space() walks every segment: look at most once every few milliseconds.
    const now = performance.now();
    if (now - this.#spaceCheckedAt < SPACE_CHECK_MS) return;
    this.#spaceCheckedAt = now;
    const space = this.lun.space();
    const spare = space.freeSegments - space.reservedSegments;
    if (spare >= Math.max(2, space.segmentCount * this.#options.compactBelowFreeRatio)) return;
    this.compact(0.5).catch(() => undefined);
  }

  /** Moves live records out of sparse segments (the gate is closed meanwhile). */
  compact(liveRatioMax: number): Promise<void> {
    this.check();
    if (this.#compaction !== undefined) return this.#compaction;
    const run = this.#closeGate().then(() => this.#compactNow(liveRatioMax));
    this.#compaction = run.finally(() => {
      this.#compaction = undefined;
    });
    return this.#compaction;
  }

  /** Compaction from inside the gate (an append that met a full LUN). */
  async #compactInside(liveRatioMax: number): Promise<void> {
    if (this.#compaction !== undefined) {
      // Another compaction waits for this operation to leave the gate; do not wait for it.
      return;
    }
    this.#inflight--;
    try {
      await this.compact(liveRatioMax);
    } finally {
      this.#inflight++;
    }
  }

  async #closeGate(): Promise<void> {
    if (this.#inflight === 0) return;
    await new Promise<void>((resolve) => {
      this.#idle = resolve;
    });
    this.#idle = undefined;
  }

  async #compactNow(liveRatioMax: number): Promise<void> {
    try {
      for (let round = 0; round < 8; round++) {
        const result = await this.lun.compact({ liveRatioMax, segmentsMax: 4 });
        if (result.moved.length === 0 && result.segments.length === 0) break;
        this.#compactions++;
        this.#movedRecords += result.moved.length;
        const moves = new Map<number, number>();
        for (const { from, to } of result.moved) moves.set(from, to);
        this.#applyMoves(moves);
        const space = this.lun.space();
        if (space.freeSegments - space.reservedSegments >= space.segmentCount / 4) break;
      }
    } catch (error) {
      throw this.#classify(error);
    }
  }

  #applyMoves(moves: Map<number, number>): void {
    if (moves.size === 0) return;
    const index = this.index;
    for (let slot = 0; slot < index.capacity; slot++) {
      const address = index.address[slot] as number;
      if (address === NO_ADDRESS) continue;
      const to = moves.get(address);
      if (to !== undefined) index.address[slot] = to;
    }
    this.onMoves(moves);
  }
}

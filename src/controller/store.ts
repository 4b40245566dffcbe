/**
 * The controller's side of the storage core: appends and releases on the LUN's page sets,
 * reads of message records (through a bounded cache; non-persistent records live only in
 * memory), compaction driven by free space, and fail-stop. Every operation that names an
 * existing record's address runs inside a gate that compaction closes while it moves records,
 * because a move changes addresses: the controller learns the new ones before anyone uses an
 * address again.
 */
import { setTimeout as delay } from 'node:timers/promises';

import { Errors, SanmqError, fromNative, type ErrorCode } from '../errors.js';
import { addressOffset, type Lun } from '../storage/lun.js';
import { constants } from '../storage/binding.js';
import { RecordCache } from './cache.js';
import {
  LIVE_RATIO_CEILING,
  nextStep,
  PAGE_SET_MESSAGES,
  type CompactionGoal,
  type PlanSizes,
} from './compaction-plan.js';
import { MessageIndex, NO_ADDRESS } from './message-index.js';

/**
 * Addresses to release: a list, or a function that reads them inside the gate (so that a
 * compaction that ran while the caller waited has already updated them).
 */
export type Addresses = readonly number[] | (() => readonly number[]);

export const PAGE_SET_CATALOG = 0;
const SPACE_CHECK_MS = 20;
export { PAGE_SET_MESSAGES };
/** Records read ahead: those up to this size, by concurrent batches at most this many. */
const PREFETCH_BYTES_MAX = 4096;
const PREFETCHES_MAX = 4;

/** How many times an append that met a full LUN is retried after compaction. */
const FULL_RETRIES_MAX = 8;
/** How long an append that met a full LUN waits for segments being freed, in polls. */
const FREEING_POLLS_MAX = 100;
const FREEING_POLL_MS = 2;
/** Free segments beyond the core's reserve that messages may not take (see #keepSoftReserve). */
const SOFT_RESERVE_SEGMENTS = 1;

/** A queued message that evacuation moves: its index slot, its address and its record. */
interface Evacuee {
  slot: number;
  source: number;
  record: Buffer;
}

/** Errors after which the controller stops acknowledging anything (fail-stop). */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>(
  ['E_IO', 'E_NO_SPACE', 'E_FAILED', 'E_CRASHED', 'E_CORRUPT', 'E_CHECKSUM', 'E_INTERNAL']);

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

export class MessageStore {
  readonly lun: Lun;
  readonly index = new MessageIndex();
  readonly #cache: RecordCache;
  readonly #nonPersistent = new Map<number, Buffer>();
  #nonPersistentBytes = 0;
  readonly #options: StoreOptions;
  #inflight = 0;
  #idle: (() => void) | undefined;
  #compaction: Promise<boolean> | undefined;
  #compactions = 0;
  #movedRecords = 0;
  #spaceCheckedAt = -Infinity;
  #prefetching = 0;
  /** Slots whose records a read ahead is fetching, and that read. */
  readonly #prefetched = new Map<number, Promise<void>>();
  /** Free segments beyond the reserve at the last look, and record bytes appended since. */
  #spareSeen = Infinity;
  #appendedBytes = 0;
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
   * same atomic chunk; resolves once durable. A full LUN is compacted and the append retried.
   */
  append(pageSet: number, records: Buffer[], release: Addresses = []): Promise<number[]> {
    const attempt = () => this.#gated(() => {
      if (pageSet === PAGE_SET_MESSAGES && this.#spareSeen <= SOFT_RESERVE_SEGMENTS + 1) {
        this.#keepSoftReserve(records);
      }
      const list = typeof release === 'function' ? release() : release;
      return this.lun.append(pageSet, records.length === 1 ? records[0] as Buffer : records,
        list.length > 0 ? { release: list } : undefined);
    });
    return this.#retryWhenFull(attempt).then((addresses) => {
      for (const record of records) this.#appendedBytes += record.length;
      this.#maybeCompact();
      return addresses;
    });
  }

  /**
   * Keeps SOFT_RESERVE_SEGMENTS free segments beyond the core's reserve away from messages:
   * evacuation needs somewhere to move a segment's live records to, and a LUN whose data
   * appends took the last free segment could not compact any more (the core's reserve is for
   * releases). An append that fits in the tail segment still goes; one that needs a new
   * segment meets E_LUN_FULL, and #retryWhenFull compacts.
   */
  #keepSoftReserve(records: readonly Buffer[]): void {
    const space = this.lun.space();
    this.#spareSeen = space.freeSegments - space.reservedSegments;
    if (this.#spareSeen > SOFT_RESERVE_SEGMENTS) return;
    const tail = space.segments.find((segment) => segment.tail &&
      segment.pageSet === PAGE_SET_MESSAGES);
    let bytes = 2 * this.lun.geometry.blockBytes;
    for (const record of records) bytes += (constants.recordHeaderBytes + record.length + 7) & ~7;
    if (tail !== undefined && space.segmentBytes - tail.writtenBytes >= bytes) return;
    throw new SanmqError('E_LUN_FULL', `the LUN is full: ${space.freeSegments} free segments, ` +
      `${space.reservedSegments} kept for releases and ${SOFT_RESERVE_SEGMENTS} for compaction; ` +
      `${space.liveBytes} bytes of live records`);
  }

  /**
   * Runs `attempt` (a gated operation) again after compaction when it meets a full LUN. The
   * retry waits outside the gate, since compaction waits for every operation in it to leave.
   * E_LUN_FULL reaches the caller only when compaction frees nothing and no segment beyond
   * the reserve is free: when live records fill the LUN.
   */
  async #retryWhenFull<T>(attempt: () => Promise<T>): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof SanmqError) || error.code !== 'E_LUN_FULL') throw error;
        if (retry >= FULL_RETRIES_MAX || this.#failure !== undefined) throw error;
        const progressed = await (this.#compaction ?? this.#start(this.#spaceGoal()))
          .catch(() => false);
        let space = this.lun.space();
        // Segments whose last records are gone become free once the writer has applied
        // their frees (after the releases' flush): a moment away, not worth an E_LUN_FULL.
        for (let poll = 0; poll < FREEING_POLLS_MAX &&
          space.freeSegments <= space.reservedSegments + SOFT_RESERVE_SEGMENTS &&
          space.segments.some((segment) => segment.freeing); poll++) {
          await delay(FREEING_POLL_MS);
          space = this.lun.space();
        }
        if (!progressed &&
          space.freeSegments <= space.reservedSegments + SOFT_RESERVE_SEGMENTS) throw error;
      }
    }
  }

  /**
   * Releases records of one page set (the message page set unless told) durably: up to 4096
   * in one atomic chunk, more in as many chunks as they need, one after the other.
   */
  release(release: Addresses, pageSet = PAGE_SET_MESSAGES): Promise<void> {
    if (typeof release !== 'function' && release.length === 0) return Promise.resolve();
    return this.#gated(async () => {
      const addresses = typeof release === 'function' ? release() : release;
      for (let i = 0; i < addresses.length; i += constants.appendReleasesMax) {
        const part = addresses.length <= constants.appendReleasesMax ? addresses
          : addresses.slice(i, i + constants.appendReleasesMax);
        if (part.length > 0) await this.lun.release(part, { pageSet });
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
    const ahead = this.#prefetched.get(slot);
    if (ahead !== undefined) {
      // Being read ahead: wait for that read rather than reading the record a second time.
      return ahead.then(() => this.#cache.get(slot) ??
        this.#gated(() => this.lun.read(this.index.address[slot] as number)));
    }
    return this.#gated(() => this.lun.read(this.index.address[slot] as number));
  }

  /**
   * Reads the records of `slots` ahead of the gets that will want them, in one read of the
   * core, into the cache (as far as it has room). Records longer than PREFETCH_BYTES_MAX are
   * left to their own reads. Best effort: a slot whose message is gotten, moved or replaced
   * meanwhile is simply not cached.
   */
  prefetch(slots: readonly number[]): void {
    if (slots.length === 0 || this.#prefetching >= PREFETCHES_MAX) return;
    if (this.#cache.full(PREFETCH_BYTES_MAX)) return;
    this.#prefetching++;
    const index = this.index;
    let addresses: number[] = [];
    const done = this.#gated(async () => {
      addresses = slots.map((slot) => index.address[slot] as number);
      const read = await this.lun.readHeads(addresses, PREFETCH_BYTES_MAX);
      slots.forEach((slot, i) => {
        const length = read.lengths[i] as number;
        if (length > PREFETCH_BYTES_MAX || index.address[slot] !== addresses[i]) return;
        const at = i * PREFETCH_BYTES_MAX;
        this.#cache.set(slot, Buffer.from(read.heads.subarray(at, at + length)));
      });
    }).catch(() => undefined).finally(() => {
      this.#prefetching--;
      for (const slot of slots) {
        if (this.#prefetched.get(slot) === done) this.#prefetched.delete(slot);
      }
    });
    for (const slot of slots) this.#prefetched.set(slot, done);
  }

  /** Whether a read ahead of `slot`'s record is under way. */
  prefetching(slot: number): boolean {
    return this.#prefetched.has(slot);
  }


  /** Whether a slot's record is in memory (cached, or non-persistent). */
  inMemory(slot: number): boolean {
    return this.index.address[slot] === NO_ADDRESS || this.#cache.has(slot);
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

  /** Bytes of non-persistent records held in memory. */
  get nonPersistentBytes(): number {
    return this.#nonPersistentBytes;
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
    // space() walks every segment: look once every few milliseconds, and sooner when appends
    // may have used half of the free segments that the last look found above the goal.
    const now = performance.now();
    const goal = this.#spaceGoal();
    const segmentBytes = this.lun.geometry.segmentBytes;
    const soon = this.#appendedBytes >= Math.max(segmentBytes / 8,
      (this.#spareSeen - (goal.spareSegments as number)) * segmentBytes / 2);
    if (now - this.#spaceCheckedAt < SPACE_CHECK_MS && !soon) return;
    this.#spaceCheckedAt = now;
    this.#appendedBytes = 0;
    const space = this.lun.space();
    this.#spareSeen = space.freeSegments - space.reservedSegments;
    if (nextStep(space, goal, new Set(), this.#planSizes()) === undefined) return;
    this.#start(goal).catch(() => undefined);
  }

  /** Compaction driven by free space: see compactBelowFreeRatio. */
  #spaceGoal(): CompactionGoal {
    const segmentCount = this.lun.geometry.segmentCount;
    return { liveRatioMax: LIVE_RATIO_CEILING,
      spareSegments: Math.max(2, segmentCount * this.#options.compactBelowFreeRatio) };
  }

  /**
   * Moves live records out of every segment whose live share is at most `liveRatioMax`, as
   * far as free space allows (the gate is closed meanwhile). A compaction that free space
   * started is let finish first: it stops at its goal, before this one's.
   */
  async compact(liveRatioMax: number): Promise<void> {
    while (this.#compaction !== undefined) await this.#compaction.catch(() => false);
    await this.#start({ liveRatioMax, spareSegments: undefined });
  }

  /** Starts a compaction (or joins the one running); resolves whether it moved anything. */
  #start(goal: CompactionGoal): Promise<boolean> {
    this.check();
    if (this.#compaction !== undefined) return this.#compaction;
    const run = this.#closeGate().then(() => this.#compactNow(goal));
    this.#compaction = run.finally(() => {
      this.#compaction = undefined;
    });
    return this.#compaction;
  }

  async #closeGate(): Promise<void> {
    if (this.#inflight === 0) return;
    await new Promise<void>((resolve) => {
      this.#idle = resolve;
    });
    this.#idle = undefined;
  }

  /**
   * Compacts one segment per step. The core is asked for one segment per call: a call that
   * fails has moved nothing, so no address the controller holds goes stale (the core reports
   * the moves of a call only when the whole call succeeds).
   */
  async #compactNow(goal: CompactionGoal): Promise<boolean> {
    let moved = false;
    const evacuated = new Set<number>();
    for (let step = 0; step < this.lun.geometry.segmentCount; step++) {
      const next = nextStep(this.lun.space(), goal, evacuated, this.#planSizes());
      if (next === undefined) break;
      if (next.kind === 'evacuate') {
        evacuated.add(next.segment);
        if (await this.#evacuate(next.segment)) moved = true;
        continue;
      }
      let result;
      try {
        result = await this.lun.compact({ liveRatioMax: next.liveRatioMax, segmentsMax: 1 });
      } catch (error) {
        const coded = this.#classify(error);
        if (coded.code === 'E_LUN_FULL') break;
        throw coded;
      }
      if (result.segments.length === 0) break;
      this.#compactions++;
      this.#movedRecords += result.moved.length;
      const moves = new Map<number, number>();
      for (const { from, to } of result.moved) moves.set(from, to);
      this.#applyMoves(moves);
      moved = true;
    }
    return moved;
  }

  #planSizes(): PlanSizes {
    return { slackBytes: this.#slackBytes(), evacuationBatchBytes: this.#evacuationBatchBytes() };
  }

  /** Room a chunk needs beyond its records: its header and the padding to a block. */
  #slackBytes(): number {
    return 2 * this.lun.geometry.blockBytes;
  }

  #evacuationBatchBytes(): number {
    const geometry = this.lun.geometry;
    return Math.min(geometry.appendBytesMax - 2 * geometry.blockBytes, geometry.segmentBytes / 4);
  }

  /**
   * Moves the queued messages out of one segment by appending their records again, each
   * append releasing the copies it replaces (as a backout rewrites a message), in appends
   * that share flushes. Runs with the gate closed, but the index still changes meanwhile:
   * operations that left the gate just before it closed finish in their continuations (a get
   * frees its slot, a commit inserts messages, perhaps into that slot). So the addresses are
   * taken once, when the segment is scanned: a message gotten meanwhile is dead by then, and
   * its read or its append rejects with E_NOT_LIVE and writes nothing. Records that no index
   * slot names (unit records, spilled puts of open units) stay; the core moves them once the
   * segment is the sparsest. Returns whether anything moved.
   */
  async #evacuate(segment: number): Promise<boolean> {
    const scanned = this.#messagesIn(segment);
    const reads = await Promise.allSettled(scanned.map(({ slot, source }) =>
      this.#cache.get(slot) ?? this.lun.read(source)));
    const moving: Evacuee[] = [];
    reads.forEach((read, i) => {
      const { slot, source } = scanned[i] as Omit<Evacuee, 'record'>;
      if (read.status === 'fulfilled') moving.push({ slot, source, record: read.value });
      else this.#skipRace(read.reason);
    });
    const batches = this.#evacuationBatches(moving.map(({ record }) => record));
    const results = await Promise.allSettled(batches.map((batch) =>
      this.lun.append(PAGE_SET_MESSAGES, batch.map((i) => (moving[i] as Evacuee).record),
        { release: batch.map((i) => (moving[i] as Evacuee).source) })));
    const moves = new Map<number, number>();
    let failure: unknown;
    results.forEach((result, b) => {
      if (result.status === 'rejected') {
        failure ??= result.reason;
        return;
      }
      (batches[b] as number[]).forEach((i, k) => {
        const { slot, source } = moving[i] as Evacuee;
        // The append released `source`, so nothing else can have: the message is still there.
        if (this.index.address[slot] !== source) {
          failure = Errors.internal(`evacuated slot ${slot} no longer names ${source}`);
          return;
        }
        moves.set(source, result.value[k] as number);
        this.index.address[slot] = result.value[k] as number;
      });
    });
    if (moves.size > 0) {
      this.#compactions++;
      this.#movedRecords += moves.size;
      this.onMoves(moves);
    }
    if (failure !== undefined) this.#skipRace(failure);
    return moves.size > 0;
  }

  /** The index slots whose records are in `segment`, and their addresses now. */
  #messagesIn(segment: number): Array<Omit<Evacuee, 'record'>> {
    const index = this.index;
    const geometry = this.lun.geometry;
    const found: Array<Omit<Evacuee, 'record'>> = [];
    for (let slot = 0; slot < index.capacity; slot++) {
      const source = index.address[slot] as number;
      if (source === NO_ADDRESS) continue;
      const offset = addressOffset(source) - geometry.logRegionOffset;
      if (Math.floor(offset / geometry.segmentBytes) === segment) found.push({ slot, source });
    }
    return found;
  }

  /** Groups records, in order, into appends of at most an evacuation batch each. */
  #evacuationBatches(records: readonly Buffer[]): number[][] {
    const batches: number[][] = [];
    let bytes = Infinity;
    records.forEach((record, i) => {
      const encoded = (constants.recordHeaderBytes + record.length + 7) & ~7;
      const batch = batches[batches.length - 1];
      if (batch === undefined || bytes + encoded > this.#evacuationBatchBytes() ||
        batch.length >= constants.appendRecordsMax) {
        batches.push([i]);
        bytes = encoded;
      } else {
        batch.push(i);
        bytes += encoded;
      }
    });
    return batches;
  }

  /** A record gotten meanwhile (E_NOT_LIVE) or a full LUN leaves records where they are. */
  #skipRace(error: unknown): void {
    const coded = this.#classify(error);
    if (coded.code !== 'E_NOT_LIVE' && coded.code !== 'E_LUN_FULL') throw coded;
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

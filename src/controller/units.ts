/**
 * The syncpoint coordinator: units of work over any number of queues. Puts under syncpoint
 * wait in memory (or, for a large unit, in "spilled" message records stamped with the unit's
 * id) and gets hold their messages claimed and locked. A commit is one atomic append: the new
 * message records and the releases of the messages gotten, so concurrent commits share the
 * writer's flush. A spilled unit commits by appending one committed-unit record, which its
 * messages depend on until they are consumed. Prepare writes a prepared-unit record naming the
 * messages the unit holds; such a unit survives a remount in doubt until it is resolved.
 *
 * What a remount makes of the records (docs/FORMAT.md):
 *
 *   message record, unit id 0                         -> committed message
 *   message record, unit id u, committed record for u -> committed message (depends on it)
 *   message record, unit id u, prepared record for u  -> put of an in-doubt unit
 *   message record, unit id u, no record for u        -> uncommitted put: released
 *   prepared record                                    -> in-doubt unit; its gets stay locked
 *   committed record no message depends on             -> released
 */
import { Errors, SanmqError } from '../errors.js';
import { constants } from '../storage/binding.js';
import {
  decodeMessage,
  encodeUnit,
  restampMessage,
  stampSequence,
  UNIT_COMMITTED,
  UNIT_PREPARED,
} from './codec.js';
import { NO_ADDRESS, SLOT_LOCKED } from './message-index.js';
import type { Queue } from './queue.js';
import {
  MQRC_BACKOUT_THRESHOLD_REACHED,
  type IndexFields,
  type QueueStore,
} from './queue-store.js';
import { PAGE_SET_MESSAGES } from './store.js';

export interface UnitPut {
  queue: Queue;
  fields: IndexFields;
  persistent: boolean;
  /** Where the spilled record is (NO_ADDRESS while the put is held in memory). */
  address: number;
  /** The committed unit record a spilled put depends on once committed (0: none). */
  ref: number;
}

export interface UnitGet {
  queue: Queue;
  slot: number;
}

export type UnitState = 'active' | 'ending' | 'prepared' | 'ended';

export class Unit {
  readonly id: number;
  readonly owner: string;
  state: UnitState = 'active';
  xid = '';
  readonly puts: UnitPut[] = [];
  readonly gets: UnitGet[] = [];
  /** Bytes of persistent puts held in memory (spilled ones excluded). */
  heldBytes = 0;
  preparedAddress = NO_ADDRESS;
  preparedAt = 0;
  /** Recovered at mount rather than prepared by a live session. */
  recovered = false;

  constructor(id: number) {
    this.id = id;
    this.owner = `unit:${id}`;
  }

  get size(): number {
    return this.puts.length + this.gets.length;
  }
}

export type Outcome = 'commit' | 'rollback';

export interface SyncpointOptions {
  unitMessagesMax: number;
  /** Bytes of records one append may carry (the LUN's appendBytesMax). */
  appendBytesMax: number;
}

function encodedBytes(record: Uint8Array): number {
  return (constants.recordHeaderBytes + record.length + 7) & ~7;
}

export class Syncpoint {
  readonly #queues: QueueStore;
  readonly #options: SyncpointOptions;
  readonly prepared = new Map<string, Unit>();
  /** Units still open (active, ending or prepared), for compaction's address updates. */
  readonly #open = new Set<Unit>();
  #nextUnitId = 1;
  commits = 0;
  backouts = 0;

  constructor(queues: QueueStore, options: SyncpointOptions) {
    this.#queues = queues;
    this.#options = options;
  }

  seeUnitId(id: number): void {
    if (id >= this.#nextUnitId) this.#nextUnitId = id + 1;
  }

  begin(): Unit {
    const unit = new Unit(this.#nextUnitId++);
    this.#open.add(unit);
    return unit;
  }

  /** Registers a unit rebuilt by recovery. */
  adopt(unit: Unit): void {
    this.seeUnitId(unit.id);
    this.#open.add(unit);
    if (unit.state === 'prepared') this.prepared.set(unit.xid, unit);
  }

  room(unit: Unit): void {
    if (unit.size >= this.#options.unitMessagesMax) {
      throw Errors.syncpointLimit(this.#options.unitMessagesMax);
    }
  }

  /** Adds a put; a unit whose held records outgrow half an append spills them to the LUN. */
  async addPut(unit: Unit, put: UnitPut): Promise<void> {
    unit.puts.push(put);
    put.queue.uncommittedPuts++;
    if (!put.persistent) return;
    unit.heldBytes += encodedBytes(put.fields.record);
    if (unit.heldBytes <= this.#options.appendBytesMax / 2) return;
    try {
      await this.#spill(unit);
    } catch (error) {
      // The put failed, so it must not commit with the unit: take it out again (a spilled
      // record of it is an uncommitted put on the LUN, released now or at the next mount).
      // Released while still in the unit, where compaction keeps its address current.
      if (put.address !== NO_ADDRESS) {
        await this.#queues.store.release(() => [put.address]).catch(() => undefined);
      } else {
        unit.heldBytes -= encodedBytes(put.fields.record);
      }
      unit.puts.splice(unit.puts.indexOf(put), 1);
      put.queue.uncommittedPuts--;
      throw error;
    }
  }

  addGet(unit: Unit, queue: Queue, slot: number): void {
    unit.gets.push({ queue, slot });
    const sequence = this.#queues.store.index.sequence[slot] as number;
    if (!this.#queues.locks.tryAcquire(`msg:${sequence}`, unit.owner, 'exclusive')) {
      throw Errors.internal(`message ${sequence} was claimed but its lock is held`);
    }
  }

  /**
   * Numbers the puts not numbered yet (see Session.put), in the order they were made: at
   * commit, or, for the puts a large unit spills, when they are spilled.
   */
  #number(puts: readonly UnitPut[]): void {
    for (const put of puts) {
      if (put.fields.sequence !== 0) continue;
      put.fields.sequence = this.#queues.nextSequence();
      stampSequence(put.fields.record, put.fields.sequence);
    }
  }

  /** Writes the held persistent puts as records stamped with the unit id. */
  async #spill(unit: Unit): Promise<void> {
    const held = unit.puts.filter((put) => put.persistent && put.address === NO_ADDRESS);
    this.#number(held);
    let start = 0;
    while (start < held.length) {
      let bytes = 64;
      let end = start;
      while (end < held.length && end - start < constants.appendRecordsMax - 1) {
        const size = encodedBytes((held[end] as UnitPut).fields.record);
        if (end > start && bytes + size > this.#options.appendBytesMax - 4096) break;
        bytes += size;
        end++;
      }
      const batch = held.slice(start, end);
      const records = batch.map((put) => restampMessage(put.fields.record, unit.id,
        put.fields.backoutCount));
      const addresses = await this.#queues.store.append(PAGE_SET_MESSAGES, records);
      batch.forEach((put, i) => {
        put.address = addresses[i] as number;
        put.fields.record = records[i] as Buffer;
        unit.heldBytes -= encodedBytes(put.fields.record);
      });
      start = end;
    }
  }

  #getAddresses(unit: Unit): number[] {
    const index = this.#queues.store.index;
    const addresses: number[] = [];
    for (const get of unit.gets) {
      const address = index.address[get.slot] as number;
      if (address !== NO_ADDRESS) addresses.push(address);
    }
    return addresses;
  }

  /** Commits: after it resolves, every effect of the unit is durable and visible. */
  async commit(unit: Unit): Promise<void> {
    this.#enter(unit, 'active');
    try {
      await this.#writeCommit(unit);
    } catch (error) {
      unit.state = 'active';
      // After a fail-stop nothing is backed out: the next mount decides from the LUN.
      if (this.#queues.store.failure !== undefined) throw error;
      await this.backout(unit);
      throw this.#backedOut(error);
    }
    this.#apply(unit);
    this.commits++;
  }

  /** MQRC_BACKED_OUT: the commit failed (the cause is kept) and the unit was backed out. */
  #backedOut(error: unknown): unknown {
    if (!(error instanceof SanmqError)) return error;
    return Errors.backedOut(`the unit of work was backed out: ${error.code}: ${error.message}`,
      error.code);
  }

  async #writeCommit(unit: Unit): Promise<void> {
    const persistent = unit.puts.filter((put) => put.persistent);
    const spilled = persistent.some((put) => put.address !== NO_ADDRESS);
    const bytes = persistent.reduce((sum, put) => sum + encodedBytes(put.fields.record), 64);
    const store = this.#queues.store;
    const releases = () => this.#getAddresses(unit);
    if (!spilled && bytes <= this.#options.appendBytesMax - 4096) {
      this.#number(persistent);
      if (persistent.length > 0) {
        const addresses = await store.append(PAGE_SET_MESSAGES,
          persistent.map((put) => put.fields.record), releases);
        persistent.forEach((put, i) => {
          put.address = addresses[i] as number;
        });
      } else {
        await store.release(releases);
      }
      return;
    }
    await this.#spill(unit);
    const record = encodeUnit({ state: UNIT_COMMITTED, unitId: unit.id, xid: unit.xid, consumed: [] });
    const [address] = await store.append(PAGE_SET_MESSAGES, [record], releases) as [number];
    this.#markSpilled(persistent, address);
  }

  /** Spilled puts of a committed unit depend on its committed record (see the table above). */
  #markSpilled(persistent: UnitPut[], unitAddress: number): void {
    const ref = this.#queues.addUnitRecord(unitAddress, persistent.length);
    for (const put of persistent) put.ref = ref;
  }

  /** Makes a written commit visible: new messages on their queues, gotten ones gone. */
  #apply(unit: Unit): void {
    const queues = this.#queues;
    const arrivals = new Map<Queue, number[]>();
    this.#number(unit.puts);
    for (const put of unit.puts) {
      put.queue.uncommittedPuts--;
      queues.insert(put.queue, put.fields, put.persistent ? put.address : NO_ADDRESS, put.ref);
      put.queue.puts++;
      put.queue.lastPutTime = Date.now();
      const list = arrivals.get(put.queue) ?? [];
      list.push(put.fields.priority);
      arrivals.set(put.queue, list);
    }
    for (const get of unit.gets) {
      queues.remove(get.queue, get.slot);
      get.queue.gets++;
      get.queue.lastGetTime = Date.now();
    }
    this.#end(unit);
    for (const [queue, priorities] of arrivals) queues.arrived(queue, priorities.length, priorities);
  }

  #enter(unit: Unit, from: UnitState): void {
    if (unit.state !== from) {
      throw new SanmqError('E_INVALID_ARGUMENT', `the unit of work is ${unit.state}, not ${from}`);
    }
    unit.state = 'ending';
  }

  #end(unit: Unit): void {
    unit.state = 'ended';
    this.#open.delete(unit);
    if (unit.xid !== '' && this.prepared.get(unit.xid) === unit) this.prepared.delete(unit.xid);
    this.#queues.locks.releaseOwner(unit.owner);
  }

  /**
   * Backs out: puts are discarded, gotten messages return to their places with their backout
   * count + 1 (written to the LUN for persistent ones), and a message that reaches its queue's
   * backout threshold is moved to the backout requeue queue or the dead-letter queue.
   */
  async backout(unit: Unit): Promise<void> {
    const wasPrepared = unit.preparedAddress !== NO_ADDRESS;
    if (unit.state === 'active') unit.state = 'ending';
    // The prepared record goes first, in the same chunk as the spilled puts (a unit holds
    // fewer messages than one chunk releases): once it is gone they are uncommitted puts.
    const released = this.#queues.store.release(() => [
      ...(wasPrepared ? [unit.preparedAddress] : []),
      ...unit.puts.filter((put) => put.address !== NO_ADDRESS).map((put) => put.address),
    ]);
    try {
      await released;
    } catch (error) {
      if (wasPrepared) {
        unit.state = 'prepared';
        throw error;
      }
      // An active unit's spilled puts are uncommitted whether or not they are released.
    }
    for (const put of unit.puts) put.queue.uncommittedPuts--;
    const touched = new Set<Queue>();
    for (const get of unit.gets) {
      await this.#returnGotten(get, unit.owner);
      touched.add(get.queue);
    }
    this.backouts++;
    this.#end(unit);
    for (const queue of touched) this.#queues.arrived(queue, 0);
  }

  async #returnGotten(get: UnitGet, owner: string): Promise<void> {
    const queues = this.#queues;
    const index = queues.store.index;
    const { queue, slot } = get;
    if (index.state[slot] !== SLOT_LOCKED) throw Errors.internal(`backed-out slot ${slot} is not locked`);
    const count = (index.backouts[slot] as number) + 1;
    const threshold = queue.attributes.backoutThreshold;
    try {
      if (threshold > 0 && count >= threshold && await this.#moveOver(get, count)) return;
      const record = await queues.store.record(slot);
      const updated = restampMessage(record, 0, count);
      if (index.address[slot] !== NO_ADDRESS) {
        const [address] = await queues.store.append(PAGE_SET_MESSAGES, [updated],
          () => [index.address[slot] as number]) as [number];
        index.address[slot] = address;
        queues.dropUnitRef(slot);
      }
      queues.store.forget(slot);
      queues.store.remember(slot, updated);
    } catch (error) {
      // The count stays in memory when it cannot be written (a full LUN); fail-stop rethrows.
      if (queues.store.failure !== undefined) throw error;
    }
    index.backouts[slot] = Math.min(count, 0xffff);
    // Back on its queue, the message may be gotten while this backout still awaits the next
    // one: its lock goes with it, not at the end of the unit.
    queues.locks.release(`msg:${index.sequence[slot]}`, owner);
    queue.unclaim(index, slot);
  }

  /** Moves a message past its backout threshold; false when no queue will take it. */
  async #moveOver(get: UnitGet, count: number): Promise<boolean> {
    const queues = this.#queues;
    const index = queues.store.index;
    const { queue, slot } = get;
    const record = await queues.store.record(slot);
    const fields = decodeMessage(record);
    const targets = [queue.attributes.backoutRequeueQueue, queues.deadLetterQueue]
      .filter((name) => name !== '' && name !== queue.name);
    const target = targets.map((name) => queues.byName.get(name))
      .find((candidate) => queues.accepts(candidate, fields.body.length));
    if (target === undefined) return false;
    const persistent = index.address[slot] !== NO_ADDRESS;
    await queues.putMoved(target, {
      ...fields,
      queueId: target.id,
      sequence: queues.nextSequence(),
      unitId: 0,
      backoutCount: count,
      deadLetter: fields.deadLetter ?? {
        reason: MQRC_BACKOUT_THRESHOLD_REACHED, originalQueue: queue.name, movedAt: Date.now(),
      },
    }, persistent, () => (persistent ? [index.address[slot] as number] : []));
    queues.remove(queue, slot);
    return true;
  }

  /** Prepares (phase one of two-phase commit) under an external transaction id. */
  async prepare(unit: Unit, xid: string): Promise<void> {
    if (this.prepared.has(xid)) throw Errors.duplicateXid(xid);
    this.#enter(unit, 'active');
    unit.xid = xid;
    this.prepared.set(xid, unit);
    try {
      await this.#spill(unit);
      const index = this.#queues.store.index;
      const consumed = unit.gets.filter((get) => index.address[get.slot] !== NO_ADDRESS)
        .map((get) => index.sequence[get.slot] as number);
      const record = encodeUnit({ state: UNIT_PREPARED, unitId: unit.id, xid, consumed });
      [unit.preparedAddress] = await this.#queues.store.append(PAGE_SET_MESSAGES, [record]) as [number];
    } catch (error) {
      this.prepared.delete(xid);
      unit.state = 'active';
      if (this.#queues.store.failure !== undefined) throw error;
      await this.backout(unit);
      throw this.#backedOut(error);
    }
    unit.state = 'prepared';
    unit.preparedAt = Date.now();
  }

  /** Resolves a prepared unit: commit or roll back (phase two). */
  async resolve(xid: string, outcome: Outcome): Promise<void> {
    const unit = this.prepared.get(xid);
    if (unit === undefined) throw Errors.unknownXid(xid);
    this.#enter(unit, 'prepared');
    if (outcome === 'rollback') {
      await this.backout(unit);
      return;
    }
    const persistent = unit.puts.filter((put) => put.persistent);
    const releases = () => [unit.preparedAddress, ...this.#getAddresses(unit)];
    try {
      if (persistent.length > 0) {
        const record = encodeUnit({ state: UNIT_COMMITTED, unitId: unit.id, xid, consumed: [] });
        const [address] = await this.#queues.store.append(PAGE_SET_MESSAGES, [record],
          releases) as [number];
        this.#markSpilled(persistent, address);
      } else {
        await this.#queues.store.release(releases);
      }
    } catch (error) {
      unit.state = 'prepared';
      throw error;
    }
    this.#apply(unit);
    this.commits++;
  }

  /** Compaction moved records: update the addresses units hold. */
  moved(moves: Map<number, number>): void {
    for (const unit of this.#open) {
      for (const put of unit.puts) {
        const to = moves.get(put.address);
        if (to !== undefined) put.address = to;
      }
      const to = moves.get(unit.preparedAddress);
      if (to !== undefined) unit.preparedAddress = to;
    }
    for (const record of this.#queues.unitRecords.values()) {
      const to = moves.get(record.address);
      if (to !== undefined) record.address = to;
    }
  }

  /** Open units (for the console and for closing sessions). */
  units(): Unit[] {
    return [...this.#open];
  }
}

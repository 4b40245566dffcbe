/**
 * The queue store: the controller's queues and the messages on them. It inserts committed
 * messages into the index, takes them out, hands them to waiting getters, raises trigger
 * messages and reaps expired messages. Sessions and the syncpoint coordinator change queues
 * only through it, so every path keeps the same counts, waiters and triggers.
 */
import { Errors, SanmqError } from '../errors.js';
import type { LockManager } from './locks.js';
import {
  CORRELATION_AT,
  encodeMessage,
  ID_AT,
  idHash,
  messageIds,
  type MessageFields,
} from './codec.js';
import { END, listOf, NO_ADDRESS, SLOT_AVAILABLE, SLOT_LOCKED } from './message-index.js';
import { Queue, type Match } from './queue.js';
import { MessageStore, PAGE_SET_MESSAGES } from './store.js';

/** What the index keeps of a message (the record holds the rest). */
export interface IndexFields {
  sequence: number;
  priority: number;
  expiresAt: number;
  backoutCount: number;
  /** The record (or at least its 96-byte head, when the index should not cache it). */
  record: Buffer;
}

export const MQRC_BACKOUT_THRESHOLD_REACHED = 2362;
/** Messages read ahead after a get that missed the cache, and how far to look for them. */
const READ_AHEAD_MAX = 128;
const READ_AHEAD_SCAN_MAX = 512;
export const MQRC_Q_FULL = 2053;

export class QueueStore {
  readonly store: MessageStore;
  readonly locks: LockManager;
  readonly byName = new Map<string, Queue>();
  readonly byId = new Map<number, Queue>();
  deadLetterQueue = '';
  #nextSequence = 1;
  /** Committed unit records that spilled puts still depend on: ref -> address and count. */
  readonly unitRecords = new Map<number, { address: number; refs: number }>();
  #nextUnitRef = 1;
  #expiring: number[] = [];
  #expiringQueues = new Set<Queue>();
  #reaping = false;
  messagesWithExpiry = 0;
  expired = 0;
  /** Called when a trigger condition fires (the controller puts the trigger message). */
  onTrigger: (queue: Queue) => void = () => undefined;

  constructor(store: MessageStore, locks: LockManager) {
    this.store = store;
    this.locks = locks;
  }

  nextSequence(): number {
    return this.#nextSequence++;
  }

  seeSequence(sequence: number): void {
    if (sequence >= this.#nextSequence) this.#nextSequence = sequence + 1;
  }

  queue(name: string): Queue {
    const queue = this.byName.get(name);
    if (queue === undefined) throw Errors.unknownQueue(name);
    return queue;
  }

  /** A reference for a committed unit record that `refs` spilled puts depend on. */
  addUnitRecord(address: number, refs: number): number {
    const ref = this.#nextUnitRef++;
    this.unitRecords.set(ref, { address, refs });
    return ref;
  }

  /** Puts a committed message into the index and onto its queue; returns its slot. */
  insert(queue: Queue, fields: IndexFields, address: number, unitRef = 0,
    state = SLOT_AVAILABLE): number {
    const record = fields.record;
    const slot = this.insertHead(queue, fields.sequence, fields.priority, fields.expiresAt,
      fields.backoutCount, idHash(record, ID_AT), idHash(record, CORRELATION_AT), address,
      unitRef, state);
    this.store.remember(slot, record);
    return slot;
  }

  /** insert() from the fields of a record's head (mount: no record object, no cache). */
  insertHead(queue: Queue, sequence: number, priority: number, expiresAt: number,
    backoutCount: number, messageHash: number, correlationHash: number, address: number,
    unitRef = 0, state = SLOT_AVAILABLE): number {
    const index = this.store.index;
    const slot = index.allocate();
    index.address[slot] = address;
    index.sequence[slot] = sequence;
    index.expiresAt[slot] = expiresAt;
    index.queueId[slot] = queue.id;
    index.priority[slot] = priority;
    index.backouts[slot] = backoutCount;
    index.unitRef[slot] = unitRef;
    index.idHash[slot] = messageHash;
    index.correlationHash[slot] = correlationHash;
    index.state[slot] = state;
    if (expiresAt !== 0) this.messagesWithExpiry++;
    queue.add(index, slot);
    return slot;
  }

  /** Takes a message off its queue and out of the index (its record is released already). */
  remove(queue: Queue, slot: number): void {
    const index = this.store.index;
    queue.remove(index, slot);
    if (index.expiresAt[slot] !== 0) this.messagesWithExpiry--;
    this.dropUnitRef(slot);
    this.store.forget(slot);
    index.free(slot);
  }

  /**
   * A message no longer depends on its unit's committed record (it is gone, or rewritten
   * without the unit id); the record is released once its last message is. Callers have
   * awaited the message's own release or rewrite: never before, or a crash between the two
   * would leave a message whose unit looks uncommitted.
   */
  dropUnitRef(slot: number): void {
    const ref = this.store.index.unitRef[slot] as number;
    if (ref === 0) return;
    this.store.index.unitRef[slot] = 0;
    const unit = this.unitRecords.get(ref);
    if (unit === undefined) throw Errors.internal(`unit record ${ref} is unknown`);
    if (--unit.refs > 0) return;
    // After the message's own release is durable (the caller awaited it): never before. The
    // address is read inside the gate, and the record stays listed (where compaction updates
    // its address) until the release is done.
    this.store.release(() => [unit.address]).catch(() => undefined)
      .finally(() => this.unitRecords.delete(ref));
  }

  /** After messages became available on `queue`: serve waiters, then check triggers. */
  arrived(queue: Queue, count: number, priorities: readonly number[] = []): void {
    queue.serveWaiters(this.store.index, Date.now(), (slot) => this.expire(queue, slot));
    if (queue.watchers.size > 0) for (const watcher of [...queue.watchers]) watcher();
    if (count > 0) this.#checkTrigger(queue, count, priorities);
  }

  #checkTrigger(queue: Queue, count: number, priorities: readonly number[]): void {
    const a = queue.attributes;
    if (!a.triggerControl || a.triggerType === 'none' || a.initiationQueue === '') return;
    if (a.getInhibited) return;
    // IBM MQ: FIRST and DEPTH fire only while no application has the queue open for input
    // (one that has will see the messages anyway).
    if (a.triggerType !== 'every' && queue.openInput > 0) return;
    const eligibleNew = a.triggerMessagePriority === 0 ? count
      : priorities.filter((p) => p >= a.triggerMessagePriority).length;
    if (eligibleNew === 0) return;
    const eligible = this.#eligibleDepth(queue);
    if (a.triggerType === 'every') {
      for (let i = 0; i < eligibleNew; i++) this.onTrigger(queue);
    } else if (a.triggerType === 'first') {
      if (eligible - eligibleNew === 0) this.onTrigger(queue);
    } else if (eligible >= a.triggerDepth && eligible - eligibleNew < a.triggerDepth) {
      this.onTrigger(queue);
    }
  }

  /** Committed messages at or above the trigger priority. */
  #eligibleDepth(queue: Queue): number {
    const index = this.store.index;
    const floor = queue.attributes.triggerMessagePriority;
    if (floor === 0) return queue.lists.count;
    let eligible = 0;
    for (const slot of queue.lists.slots(index)) {
      if ((index.priority[slot] as number) >= floor) eligible++;
    }
    return eligible;
  }

  /** Picks and claims the first matching message; END if none. */
  claim(queue: Queue, match: Match, skip?: ReadonlySet<number>): number {
    const index = this.store.index;
    const slot = queue.select(index, match, Date.now(), (s) => this.expire(queue, s), undefined,
      skip);
    if (slot !== END) queue.claim(index, slot);
    return slot;
  }

  /**
   * A get had to read `slot`'s record from the LUN: read the messages after it on its queue
   * ahead, together, since the next gets will want them (queues are read in order).
   */
  readAhead(queue: Queue, slot: number): void {
    const index = this.store.index;
    const store = this.store;
    if (store.prefetching(slot)) return;
    // The claimed message's own record comes in the same read.
    const slots: number[] = [slot];
    let list = listOf(queue.fifo, index.priority[slot] as number);
    let next = index.next[slot] as number;
    for (let seen = 0; seen < READ_AHEAD_SCAN_MAX && slots.length < READ_AHEAD_MAX; seen++) {
      while (next === END && list > 0) next = queue.lists.heads[--list] as number;
      if (next === END) break;
      if (index.state[next] === SLOT_AVAILABLE && !store.inMemory(next) && !store.prefetching(next)) {
        slots.push(next);
      }
      next = index.next[next] as number;
    }
    store.prefetch(slots);
  }


  /** Whether a claimed slot's record really has the ids asked for (the index holds hashes). */
  matches(record: Buffer, match: Match): boolean {
    const ids = messageIds(record);
    if (match.messageId !== undefined && !Buffer.from(ids.messageId).equals(match.messageId)) return false;
    if (match.correlationId !== undefined &&
      !Buffer.from(ids.correlationId).equals(match.correlationId)) return false;
    return true;
  }

  /** Marks an expired message for removal; the reaper releases it in a batch. */
  expire(queue: Queue, slot: number): void {
    const index = this.store.index;
    if (index.state[slot] !== SLOT_AVAILABLE) return;
    queue.claim(index, slot);
    this.#expiring.push(slot);
    this.#expiringQueues.add(queue);
    if (!this.#reaping) {
      this.#reaping = true;
      setImmediate(() => void this.#reap());
    }
  }

  /** Finds expired messages the gets have not met (run by the controller's timer). */
  sweepExpired(now: number): void {
    if (this.messagesWithExpiry === 0) return;
    const index = this.store.index;
    for (let slot = 0; slot < index.capacity; slot++) {
      if (index.state[slot] !== SLOT_AVAILABLE) continue;
      const at = index.expiresAt[slot] as number;
      if (at === 0 || at > now) continue;
      const queue = this.byId.get(index.queueId[slot] as number);
      if (queue !== undefined) this.expire(queue, slot);
    }
  }

  async #reap(): Promise<void> {
    while (this.#expiring.length > 0) {
      const batch = this.#expiring;
      this.#expiring = [];
      const index = this.store.index;
      // Read inside the gate: a compaction may move the records while the release waits.
      const addresses = () => batch.map((slot) => index.address[slot] as number)
        .filter((address) => address !== NO_ADDRESS);
      try {
        await this.store.release(addresses);
      } catch {
        // Fail-stop (or closing): the messages stay claimed; a remount finds them expired.
        this.#reaping = false;
        return;
      }
      for (const slot of batch) {
        const queue = this.byId.get(index.queueId[slot] as number);
        if (queue === undefined || index.state[slot] !== SLOT_LOCKED) continue;
        this.remove(queue, slot);
        this.expired++;
      }
    }
    this.#reaping = false;
  }

  /**
   * Writes a message to a queue outside any unit of work (used to move a message to a
   * backout or dead-letter queue), releasing `release` in the same atomic chunk.
   */
  async putMoved(queue: Queue, fields: MessageFields, persistent: boolean,
    release: () => readonly number[]): Promise<void> {
    const record = encodeMessage(fields);
    let address = NO_ADDRESS;
    if (persistent) {
      [address] = await this.store.append(PAGE_SET_MESSAGES, [record], release) as [number];
    } else {
      await this.store.release(release);
    }
    this.insert(queue, { sequence: fields.sequence, priority: fields.priority,
      expiresAt: fields.expiresAt, backoutCount: fields.backoutCount, record }, address);
    queue.puts++;
    queue.lastPutTime = Date.now();
    this.arrived(queue, 1, [fields.priority]);
  }

  /** Whether a queue can take one more message of `bodyBytes` now (for moves and triggers). */
  accepts(queue: Queue | undefined, bodyBytes: number): queue is Queue {
    if (queue === undefined || queue.deleted) return false;
    const a = queue.attributes;
    return !a.putInhibited && queue.depth < a.maxDepth && bodyBytes <= a.maxMessageLength;
  }
}

export function isCoded(error: unknown, code: string): error is SanmqError {
  return error instanceof SanmqError && error.code === code;
}

/**
 * One local queue in memory: its attributes, its ordered lists of message slots, its counts
 * and its get-waiters. Selection is synchronous: a get picks and claims a slot in one step,
 * so two getters never race for the same message, and waiters woken by a commit are served
 * in the order IBM MQ documents: waiters for a specific message id or correlation id first,
 * then general ones, each in arrival order.
 */
import type { QueueAttributes } from './attributes.js';
import { idHash } from './codec.js';
import {
  END,
  listOf,
  MessageLists,
  SLOT_AVAILABLE,
  SLOT_LOCKED,
  type MessageIndex,
} from './message-index.js';

/** What a get or browse asks for: ids to match (exact bytes; hashed for the index). */
export interface Match {
  messageId: Uint8Array | undefined;
  correlationId: Uint8Array | undefined;
  messageHash: number;
  correlationHash: number;
}

export const MATCH_ANY: Match = Object.freeze({
  messageId: undefined, correlationId: undefined, messageHash: 0, correlationHash: 0,
});

export function makeMatch(messageId: Uint8Array | undefined,
  correlationId: Uint8Array | undefined): Match {
  if (messageId === undefined && correlationId === undefined) return MATCH_ANY;
  return {
    messageId,
    correlationId,
    messageHash: messageId === undefined ? 0 : idHash(messageId),
    correlationHash: correlationId === undefined ? 0 : idHash(correlationId),
  };
}

export function isSpecific(match: Match): boolean {
  return match.messageId !== undefined || match.correlationId !== undefined;
}

export interface Waiter {
  readonly match: Match;
  /** Takes the claimed slot; the waiter then reads and finishes the get. */
  readonly take: (slot: number) => void;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

/** Where a browse cursor stands: after this message, in delivery order. */
export interface CursorPosition {
  list: number;
  sequence: number;
}

export class Queue {
  readonly id: number;
  readonly name: string;
  attributes: QueueAttributes;
  readonly lists = new MessageLists();
  /** Messages on the lists that are claimed (gotten under syncpoint, being read, expiring). */
  locked = 0;
  /** Puts of open units of work (counted in the depth, as IBM MQ does). */
  uncommittedPuts = 0;
  /** Catalog address of the definition (to release when altered or deleted). */
  catalogAddress: number;
  readonly specificWaiters: Waiter[] = [];
  readonly generalWaiters: Waiter[] = [];
  /** Gets with a message selector, waiting: told of every arrival, they look for themselves. */
  readonly watchers = new Set<() => void>();
  /** Connections holding the queue open for input (for DISPLAY QSTATUS and exclusivity). */
  openInput = 0;
  puts = 0;
  gets = 0;
  lastPutTime = 0;
  lastGetTime = 0;
  /** Set once the queue is deleted: its handles fail with E_UNKNOWN_QUEUE. */
  deleted = false;

  constructor(id: number, name: string, attributes: QueueAttributes, catalogAddress: number) {
    this.id = id;
    this.name = name;
    this.attributes = attributes;
    this.catalogAddress = catalogAddress;
  }

  get fifo(): boolean {
    return this.attributes.deliverySequence === 'fifo';
  }

  /** CURDEPTH: committed messages plus uncommitted puts. */
  get depth(): number {
    return this.lists.count + this.uncommittedPuts;
  }

  get available(): number {
    return this.lists.count - this.locked;
  }

  add(index: MessageIndex, slot: number): void {
    this.lists.insert(index, slot, listOf(this.fifo, index.priority[slot] as number));
    if (index.state[slot] === SLOT_LOCKED) this.locked++;
  }

  remove(index: MessageIndex, slot: number): void {
    if (index.state[slot] === SLOT_LOCKED) this.locked--;
    this.lists.remove(index, slot, listOf(this.fifo, index.priority[slot] as number));
  }

  claim(index: MessageIndex, slot: number): void {
    index.state[slot] = SLOT_LOCKED;
    this.locked++;
  }

  unclaim(index: MessageIndex, slot: number): void {
    index.state[slot] = SLOT_AVAILABLE;
    this.locked--;
  }

  /**
   * The first available message in delivery order that matches (by id hash: the caller
   * verifies the ids on the record), skipping and reporting expired ones; END if none.
   */
  select(index: MessageIndex, match: Match, now: number, expired: (slot: number) => void,
    after?: CursorPosition, skip?: ReadonlySet<number>): number {
    if (this.available === 0) return END;
    const specific = isSpecific(match);
    const first = after === undefined ? 9 : after.list;
    for (let list = this.fifo ? 0 : first; list >= 0; list--) {
      let slot = this.lists.heads[list] as number;
      if (after !== undefined && list === after.list) {
        while (slot !== END && (index.sequence[slot] as number) <= after.sequence) {
          slot = index.next[slot] as number;
        }
      }
      for (; slot !== END; slot = index.next[slot] as number) {
        if (index.state[slot] !== SLOT_AVAILABLE) continue;
        const expiresAt = index.expiresAt[slot] as number;
        if (expiresAt !== 0 && expiresAt <= now) {
          expired(slot);
          continue;
        }
        if (skip !== undefined && skip.has(slot)) continue;
        if (specific) {
          if (match.messageId !== undefined && index.idHash[slot] !== match.messageHash) continue;
          if (match.correlationId !== undefined &&
            index.correlationHash[slot] !== match.correlationHash) continue;
        }
        return slot;
      }
    }
    return END;
  }

  position(index: MessageIndex, slot: number): CursorPosition {
    return { list: listOf(this.fifo, index.priority[slot] as number),
      sequence: index.sequence[slot] as number };
  }

  /** Rebuilds the lists after the delivery sequence changed. */
  relist(index: MessageIndex): void {
    const slots = [...this.lists.slots(index)];
    for (const slot of slots) {
      this.lists.remove(index, slot, listOf(!this.fifo, index.priority[slot] as number));
    }
    for (const slot of slots) {
      this.lists.insert(index, slot, listOf(this.fifo, index.priority[slot] as number));
    }
  }

  addWaiter(waiter: Waiter): void {
    (isSpecific(waiter.match) ? this.specificWaiters : this.generalWaiters).push(waiter);
  }

  dropWaiter(waiter: Waiter): void {
    const list = isSpecific(waiter.match) ? this.specificWaiters : this.generalWaiters;
    const at = list.indexOf(waiter);
    if (at >= 0) list.splice(at, 1);
  }

  /**
   * Hands available messages to waiters: specific-match waiters first, then general ones,
   * each in arrival order. A waiter whose match finds nothing keeps waiting.
   */
  serveWaiters(index: MessageIndex, now: number, expired: (slot: number) => void): void {
    for (const waiters of [this.specificWaiters, this.generalWaiters]) {
      for (let i = 0; i < waiters.length && this.available > 0;) {
        const waiter = waiters[i] as Waiter;
        const slot = this.select(index, waiter.match, now, expired);
        if (slot === END) {
          i++;
          continue;
        }
        waiters.splice(i, 1);
        this.claim(index, slot);
        waiter.done = true;
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
        waiter.take(slot);
      }
    }
  }
}

/**
 * The in-memory index of queued messages: one slot per message in columns of typed arrays
 * (52 bytes a message, no JavaScript object per message), and ordered lists threaded
 * through the slots, one per queue and priority. Bodies are not here: they stay on the LUN
 * (or, for non-persistent messages, in the controller's map of records).
 */

export const SLOT_FREE = 0;
/** Committed and on its queue, free to be gotten. */
export const SLOT_AVAILABLE = 1;
/** Gotten under syncpoint (or being gotten, expired or moved): on its queue but invisible. */
export const SLOT_LOCKED = 2;

/** Non-persistent messages have no address. */
export const NO_ADDRESS = -1;
const NONE = -1;
/** Bytes of one slot across the columns below. */
const SLOT_BYTES = 8 * 3 + 4 * 6 + 2 + 1 + 1;

export class MessageIndex {
  capacity = 0;
  count = 0;
  address = new Float64Array(0);
  sequence = new Float64Array(0);
  expiresAt = new Float64Array(0);
  queueId = new Uint32Array(0);
  next = new Int32Array(0);
  prev = new Int32Array(0);
  idHash = new Uint32Array(0);
  correlationHash = new Uint32Array(0);
  /** The committed unit record a message still depends on (0: none); see Units. */
  unitRef = new Uint32Array(0);
  backouts = new Uint16Array(0);
  priority = new Uint8Array(0);
  state = new Uint8Array(0);
  /** Free slots are chained through `next`, so they cost no column of their own. */
  #freeHead = NONE;

  constructor(capacity = 1024) {
    this.#grow(capacity);
  }

  /** Bytes of the typed arrays: the whole per-message cost of the index. */
  heapBytes(): number {
    return this.capacity * SLOT_BYTES;
  }

  allocate(): number {
    if (this.#freeHead === NONE) this.#grow(this.capacity * 2);
    const slot = this.#freeHead;
    this.#freeHead = this.next[slot] as number;
    this.count++;
    this.next[slot] = NONE;
    this.prev[slot] = NONE;
    this.unitRef[slot] = 0;
    this.backouts[slot] = 0;
    return slot;
  }

  free(slot: number): void {
    if (this.state[slot] === SLOT_FREE) throw new Error(`index slot ${slot} is already free`);
    this.state[slot] = SLOT_FREE;
    this.address[slot] = NO_ADDRESS;
    this.prev[slot] = NONE;
    this.next[slot] = this.#freeHead;
    this.#freeHead = slot;
    this.count--;
  }

  #grow(capacity: number): void {
    const old = this.capacity;
    const grow = <T extends Float64Array | Uint32Array | Int32Array | Uint16Array | Uint8Array>(
      array: T, make: (n: number) => T): T => {
      const grown = make(capacity);
      grown.set(array);
      return grown;
    };
    this.address = grow(this.address, (n) => new Float64Array(n));
    this.sequence = grow(this.sequence, (n) => new Float64Array(n));
    this.expiresAt = grow(this.expiresAt, (n) => new Float64Array(n));
    this.queueId = grow(this.queueId, (n) => new Uint32Array(n));
    this.next = grow(this.next, (n) => new Int32Array(n));
    this.prev = grow(this.prev, (n) => new Int32Array(n));
    this.idHash = grow(this.idHash, (n) => new Uint32Array(n));
    this.correlationHash = grow(this.correlationHash, (n) => new Uint32Array(n));
    this.unitRef = grow(this.unitRef, (n) => new Uint32Array(n));
    this.backouts = grow(this.backouts, (n) => new Uint16Array(n));
    this.priority = grow(this.priority, (n) => new Uint8Array(n));
    this.state = grow(this.state, (n) => new Uint8Array(n));
    // Lower slots are handed out first, which keeps the index dense.
    for (let slot = capacity - 1; slot >= old; slot--) {
      this.next[slot] = this.#freeHead;
      this.#freeHead = slot;
    }
    this.capacity = capacity;
  }
}

/**
 * The messages of one queue: ten lists (priority 9 first) or, for a FIFO queue, list 0 alone.
 * Each list is in sequence order; insertion walks back from the tail, which is O(1) for new
 * messages, whose sequences only grow.
 */
export class MessageLists {
  readonly heads = new Int32Array(10).fill(NONE);
  readonly tails = new Int32Array(10).fill(NONE);
  count = 0;

  insert(index: MessageIndex, slot: number, list: number): void {
    const sequence = index.sequence[slot] as number;
    let after = this.tails[list] as number;
    while (after !== NONE && (index.sequence[after] as number) > sequence) {
      after = index.prev[after] as number;
    }
    const before = after === NONE ? (this.heads[list] as number) : (index.next[after] as number);
    index.prev[slot] = after;
    index.next[slot] = before;
    if (after === NONE) this.heads[list] = slot;
    else index.next[after] = slot;
    if (before === NONE) this.tails[list] = slot;
    else index.prev[before] = slot;
    this.count++;
  }

  remove(index: MessageIndex, slot: number, list: number): void {
    const before = index.prev[slot] as number;
    const after = index.next[slot] as number;
    if (before === NONE) this.heads[list] = after;
    else index.next[before] = after;
    if (after === NONE) this.tails[list] = before;
    else index.prev[after] = before;
    index.prev[slot] = NONE;
    index.next[slot] = NONE;
    this.count--;
  }

  /** Every slot, in delivery order (the first list first). */
  *slots(index: MessageIndex): Generator<number> {
    for (let list = 9; list >= 0; list--) {
      for (let slot = this.heads[list] as number; slot !== NONE; slot = index.next[slot] as number) {
        yield slot;
      }
    }
  }
}

/** The list a message belongs to: its priority, or 0 on a FIFO queue. */
export function listOf(fifo: boolean, priority: number): number {
  return fifo ? 0 : priority;
}

export const END = NONE;

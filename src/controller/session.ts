/**
 * A connection to the controller (an IBM MQ "hconn"): put, get, browse with cursors, get with
 * wait, matching on message id and correlation id, and one unit of work at a time (commit,
 * backout, prepare). Sessions are what queue managers and embedding applications use; the
 * controller hands them out with `controller.session()`.
 */
import { Errors, SanmqError } from '../errors.js';
import type { InputOpen } from './attributes.js';
import {
  decodeMessage,
  encodeMessage,
  ID_BYTES,
  XID_BYTES_MAX,
  utf8Length,
  type DeadLetterHeader,
  type MessageFields,
  type Properties,
} from './codec.js';
import type { Descriptor } from './descriptor.js';
import { headerLookup } from './jms-headers.js';
import { END, NO_ADDRESS, SLOT_AVAILABLE } from './message-index.js';
import { makeMatch, type CursorPosition, type Match, type Queue, type Waiter } from './queue.js';
import type { Selector } from './selector.js';
import type { QueueStore } from './queue-store.js';
import { PAGE_SET_MESSAGES } from './store.js';
import type { Syncpoint, Unit } from './units.js';
import {
  validateBrowse,
  validateGet,
  validateMessage,
  type BrowseOptions,
  type GetOptions,
  type MessageInput,
  type PutOptions,
} from './validation.js';

/** A message as a get or browse returns it. */
export interface Message {
  queue: string;
  messageId: Buffer;
  correlationId: Buffer;
  priority: number;
  persistent: boolean;
  /** Remaining lifetime in tenths of a second; -1: unlimited. */
  expiry: number;
  putTime: Date;
  backoutCount: number;
  replyToQueue: string;
  replyToQueueManager: string;
  format: string;
  properties: Properties;
  /** Set on a message moved to a backout or dead-letter queue: why, and from where. */
  deadLetter: DeadLetterHeader | undefined;
  /** The MQMD fields beyond the core ones, when the putter gave them. */
  descriptor: Descriptor | undefined;
  body: Buffer;
}

export interface PutResult {
  messageId: Buffer;
  correlationId: Buffer;
  putTime: Date;
}

/** What a session needs of its controller. */
export interface SessionHost {
  readonly queues: QueueStore;
  readonly syncpoint: Syncpoint;
  readonly messageIdPrefix: Buffer;
  readonly recordBytesMax: number;
  readonly nonPersistentBytesMax: number;
  nextMessageCounter(): number;
  ended(session: Session): void;
  check(): void;
}

const WAIT_MS_MAX = 86_400_000;
/** Hash collisions are rare; a get retries past at most this many before it gives up. */
const COLLISIONS_MAX = 64;
/** Messages one selector get or browse step examines before it gives up (E_NO_MSG). */
const SELECT_SCAN_MAX = 10_000_000;

/** A wait this session has started, as close() and queue deletion end it. */
interface PendingWait {
  queue: Queue;
  cancel: (error: SanmqError) => void;
}

export class Session {
  readonly id: number;
  readonly owner: string;
  readonly #host: SessionHost;
  #unit: Unit | undefined;
  #closed = false;
  readonly #opened = new Map<string, InputOpen>();
  readonly #waiters = new Set<PendingWait>();

  constructor(host: SessionHost, id: number) {
    this.#host = host;
    this.id = id;
    this.owner = `connection:${id}`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether a unit of work is open (a put or get under syncpoint started it). */
  get inUnitOfWork(): boolean {
    return this.#unit !== undefined;
  }

  #check(): void {
    if (this.#closed) throw Errors.closed('the session');
    this.#host.check();
  }

  /**
   * Opens a queue for input, shared or exclusive (MQOO_INPUT_SHARED / _EXCLUSIVE). A get
   * opens the queue with its default input open when the session has not.
   */
  open(queueName: string, input: InputOpen = 'shared'): void {
    this.#check();
    const queue = this.#host.queues.queue(queueName);
    if (input !== 'shared' && input !== 'exclusive') {
      throw Errors.invalidArgument("input must be 'shared' or 'exclusive'");
    }
    const mode = queue.attributes.shareability === 'exclusive' ? 'exclusive' : input;
    const held = this.#opened.get(queue.name);
    if (held === mode || held === 'exclusive') return;
    if (!this.#host.queues.locks.tryAcquire(`queue:${queue.name}`, this.owner, mode)) {
      throw Errors.objectInUse(`queue '${queue.name}' is open for ${
        mode === 'exclusive' ? 'input by another connection' : 'exclusive input by another connection'}`);
    }
    if (held === undefined) queue.openInput++;
    this.#opened.set(queue.name, mode);
  }

  /**
   * Takes the exclusive lock on a named group resource (such as `channel:NAME`, held by a
   * channel's one running instance) for the life of the session or until `unlock`. Refused
   * with E_OBJECT_IN_USE while another session holds it.
   */
  lock(resource: string): void {
    this.#check();
    if (!/^group:[A-Za-z0-9._/%:]{1,100}$/.test(resource)) {
      throw Errors.invalidArgument("a group lock is named 'group:' and up to 100 of A-Z a-z 0-9 . _ / % :");
    }
    if (!this.#host.queues.locks.tryAcquire(resource, this.owner, 'exclusive')) {
      throw Errors.objectInUse(`${resource} is held by another connection`);
    }
  }

  /** Releases a lock taken by `lock`. */
  unlock(resource: string): void {
    this.#check();
    this.#host.queues.locks.release(resource, this.owner);
  }

  /** Closes an input open made by `open` or by a get. */
  closeQueue(queueName: string): void {
    this.#check();
    if (!this.#opened.has(queueName)) return;
    this.#opened.delete(queueName);
    this.#host.queues.locks.release(`queue:${queueName}`, this.owner);
    const queue = this.#host.queues.byName.get(queueName);
    if (queue !== undefined) queue.openInput--;
  }

  /** Puts a message; outside syncpoint a persistent put resolves once it is durable. */
  async put(queueName: string, message: MessageInput, options: PutOptions = {}): Promise<PutResult> {
    this.#check();
    const queues = this.#host.queues;
    const queue = queues.queue(queueName);
    const input = validateMessage(message, options);
    const a = queue.attributes;
    if (a.putInhibited) throw Errors.putInhibited(queue.name);
    if (input.body.length > a.maxMessageLength) {
      throw Errors.messageTooLong(queue.name, input.body.length, a.maxMessageLength);
    }
    if (queue.depth >= a.maxDepth) throw Errors.queueFull(queue.name, a.maxDepth);
    const putTime = Date.now();
    const messageId = input.messageId ?? this.#newMessageId();
    const priority = input.priority ?? a.defaultPriority;
    const persistent = input.persistent ?? a.defaultPersistent;
    const fields = {
      // A put under syncpoint is numbered when its unit commits: the queue's order is the
      // order in which messages became visible.
      queueId: queue.id, sequence: input.syncpoint ? 0 : queues.nextSequence(), unitId: 0, putTime,
      expiresAt: input.expiry === undefined || input.expiry < 0 ? 0 : putTime + input.expiry * 100,
      priority, backoutCount: 0, messageId, correlationId: input.correlationId,
      replyToQueue: input.replyToQueue, replyToQueueManager: input.replyToQueueManager,
      format: input.format, properties: input.properties, deadLetter: undefined,
      descriptor: input.descriptor, body: input.body,
    };
    const record = encodeMessage(fields);
    if (record.length > this.#host.recordBytesMax) {
      throw Errors.messageTooLong(queue.name, record.length, this.#host.recordBytesMax);
    }
    if (!persistent &&
      queues.store.nonPersistentBytes + record.length > this.#host.nonPersistentBytesMax) {
      throw new SanmqError('E_BUSY', `non-persistent messages hold ${queues.store.nonPersistentBytes} ` +
        `bytes of memory; at most ${this.#host.nonPersistentBytesMax} (mount option nonPersistentBytesMax)`);
    }
    const result = { messageId: Buffer.from(messageId), correlationId: Buffer.from(input.correlationId),
      putTime: new Date(putTime) };
    const indexFields = { sequence: fields.sequence, priority, expiresAt: fields.expiresAt,
      backoutCount: 0, record };
    if (input.syncpoint) {
      const unit = this.#unitForWork();
      await this.#host.syncpoint.addPut(unit, { queue, fields: indexFields, persistent,
        address: NO_ADDRESS, ref: 0 });
      return result;
    }
    let address = NO_ADDRESS;
    queue.uncommittedPuts++;
    try {
      if (persistent) {
        [address] = await queues.store.append(PAGE_SET_MESSAGES, [record]) as [number];
      }
    } finally {
      queue.uncommittedPuts--;
    }
    queues.insert(queue, indexFields, address);
    queue.puts++;
    queue.lastPutTime = putTime;
    queues.arrived(queue, 1, [priority]);
    return result;
  }

  #newMessageId(): Buffer {
    const id = Buffer.alloc(ID_BYTES);
    this.#host.messageIdPrefix.copy(id, 0);
    id.writeDoubleBE(this.#host.nextMessageCounter(), 16);
    return id;
  }

  #unitForWork(): Unit {
    if (this.#unit === undefined) this.#unit = this.#host.syncpoint.begin();
    this.#host.syncpoint.room(this.#unit);
    return this.#unit;
  }

  /**
   * Gets a message: the first in delivery order that matches, waiting up to `waitMs` for one
   * to be committed. Outside syncpoint a persistent message is removed durably before the get
   * resolves; under syncpoint it stays locked until commit or backout.
   */
  async get(queueName: string, options: GetOptions = {}): Promise<Message> {
    this.#check();
    const queues = this.#host.queues;
    const queue = queues.queue(queueName);
    const request = validateGet(options, WAIT_MS_MAX);
    if (queue.attributes.getInhibited) throw Errors.getInhibited(queue.name);
    if (!this.#opened.has(queue.name)) this.open(queue.name, queue.attributes.defaultInputOpen);
    const unit = request.syncpoint ? this.#unitForWork() : undefined;
    const match = makeMatch(request.messageId, request.correlationId);
    const deadline = Date.now() + request.waitMs;
    if (request.selector !== undefined) {
      const { slot, record } = await this.#claimSelected(queue, match, request.selector, deadline);
      return this.#take(queue, slot, record, unit);
    }
    const skip = new Set<number>();
    for (let attempt = 0; attempt < COLLISIONS_MAX; attempt++) {
      let slot = queues.claim(queue, match, skip.size > 0 ? skip : undefined);
      if (slot === END) {
        const waitMs = deadline - Date.now();
        if (waitMs <= 0 || skip.size > 0) throw Errors.noMessage(queue.name);
        slot = await this.#wait(queue, match, waitMs);
      }
      if (!queues.store.inMemory(slot)) queues.readAhead(queue, slot);
      let record: Buffer;
      try {
        record = await queues.store.record(slot);
      } catch (error) {
        queue.unclaim(queues.store.index, slot);
        throw error;
      }
      if (!queues.matches(record, match)) {
        queue.unclaim(queues.store.index, slot);
        skip.add(slot);
        continue;
      }
      return this.#take(queue, slot, record, unit);
    }
    throw Errors.noMessage(queue.name);
  }

  /** Finishes a get of a claimed message: under syncpoint it stays locked, else it goes. */
  async #take(queue: Queue, slot: number, record: Buffer, unit: Unit | undefined):
  Promise<Message> {
    let message: Message;
    try {
      message = this.#message(queue, slot, record);
    } catch (error) {
      queue.unclaim(this.#host.queues.store.index, slot);
      throw error;
    }
    if (unit !== undefined) {
      this.#host.syncpoint.addGet(unit, queue, slot);
      return message;
    }
    await this.#consume(queue, slot);
    return message;
  }

  /**
   * A get with a message selector: the first message in delivery order that the selector
   * selects, read and tested here (the index holds no properties), then claimed. With nothing
   * selected it waits for arrivals until the deadline and looks again.
   */
  async #claimSelected(queue: Queue, match: Match, selector: Selector, deadline: number):
  Promise<{ slot: number; record: Buffer }> {
    for (;;) {
      const found = await this.#selectNext(queue, match, selector, undefined);
      if (found !== undefined) {
        queue.claim(this.#host.queues.store.index, found.slot);
        return found;
      }
      const waitMs = deadline - Date.now();
      if (waitMs <= 0) throw Errors.noMessage(queue.name);
      await this.#arrival(queue, waitMs);
    }
  }

  /**
   * The next available message after `after` that matches and that the selector (if any)
   * selects, with its record; undefined at the end. Synchronous from the last check to the
   * return, so the caller can claim the slot before anything else runs.
   */
  async #selectNext(queue: Queue, match: Match, selector: Selector | undefined,
    after: CursorPosition | undefined):
  Promise<{ slot: number; record: Buffer; position: CursorPosition } | undefined> {
    const queues = this.#host.queues;
    const index = queues.store.index;
    let position = after;
    for (let seen = 0; seen < SELECT_SCAN_MAX; seen++) {
      this.#check();
      if (queue.deleted) throw Errors.unknownQueue(queue.name);
      const slot = queue.select(index, match, Date.now(), (s) => queues.expire(queue, s), position);
      if (slot === END) return undefined;
      const here = queue.position(index, slot);
      if (!queues.store.inMemory(slot)) queues.readAhead(queue, slot);
      let record: Buffer | undefined;
      try {
        record = await queues.store.record(slot);
      } catch (error) {
        if (!(error instanceof SanmqError) || error.code !== 'E_NOT_LIVE') throw error;
      }
      position = here;
      // The message may have been gotten (and its slot reused) while it was read.
      const same = index.sequence[slot] === here.sequence && index.queueId[slot] === queue.id &&
        index.state[slot] === SLOT_AVAILABLE;
      if (record === undefined || !same || !queues.matches(record, match)) continue;
      if (selector !== undefined && !this.#selects(selector, slot, record)) continue;
      return { slot, record, position: here };
    }
    throw Errors.noMessage(queue.name);
  }

  #selects(selector: Selector, slot: number, record: Buffer): boolean {
    const index = this.#host.queues.store.index;
    let fields: MessageFields;
    try {
      fields = decodeMessage(record);
    } catch {
      return false;
    }
    return selector.matches(headerLookup({
      fields, persistent: index.address[slot] !== NO_ADDRESS,
      backoutCount: index.backouts[slot] as number,
    }));
  }

  /** Resolves when messages arrive on the queue (or come back), rejects at the deadline. */
  #arrival(queue: Queue, waitMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: PendingWait = {
        queue,
        cancel: (error) => {
          finish();
          reject(error);
        },
      };
      const watcher = (): void => {
        finish();
        resolve();
      };
      const timer = setTimeout(() => pending.cancel(Errors.noMessage(queue.name)), waitMs);
      const finish = (): void => {
        clearTimeout(timer);
        queue.watchers.delete(watcher);
        this.#waiters.delete(pending);
      };
      queue.watchers.add(watcher);
      this.#waiters.add(pending);
    });
  }

  /** Removes a claimed message outside syncpoint: durably first, then from the index. */
  async #consume(queue: Queue, slot: number): Promise<void> {
    const queues = this.#host.queues;
    const index = queues.store.index;
    if (index.address[slot] !== NO_ADDRESS) {
      try {
        await queues.store.release(() => [index.address[slot] as number]);
      } catch (error) {
        queue.unclaim(index, slot);
        queues.arrived(queue, 0);
        throw error;
      }
    }
    queues.remove(queue, slot);
    queue.gets++;
    queue.lastGetTime = Date.now();
  }

  #wait(queue: Queue, match: Match, waitMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = {
        match,
        timer: undefined,
        done: false,
        take: (slot) => {
          this.#waiters.delete(pending);
          resolve(slot);
        },
      };
      const pending: PendingWait = {
        queue,
        cancel: (error) => {
          if (waiter.done) return;
          waiter.done = true;
          if (waiter.timer !== undefined) clearTimeout(waiter.timer);
          queue.dropWaiter(waiter);
          this.#waiters.delete(pending);
          reject(error);
        },
      };
      waiter.timer = setTimeout(() => pending.cancel(Errors.noMessage(queue.name)), waitMs);
      queue.addWaiter(waiter);
      this.#waiters.add(pending);
    });
  }

  /** Ends this session's waits (closing, or the queue was deleted). */
  cancelWaits(error: SanmqError, queue?: Queue): void {
    for (const pending of [...this.#waiters]) {
      if (queue === undefined || pending.queue === queue) pending.cancel(error);
    }
  }

  #message(queue: Queue, slot: number, record: Buffer): Message {
    const fields = decodeMessage(record);
    const index = this.#host.queues.store.index;
    const now = Date.now();
    return {
      queue: queue.name,
      messageId: Buffer.from(fields.messageId),
      correlationId: Buffer.from(fields.correlationId),
      priority: fields.priority,
      persistent: index.address[slot] !== NO_ADDRESS,
      expiry: fields.expiresAt === 0 ? -1 : Math.max(1, Math.ceil((fields.expiresAt - now) / 100)),
      putTime: new Date(fields.putTime),
      backoutCount: index.backouts[slot] as number,
      replyToQueue: fields.replyToQueue,
      replyToQueueManager: fields.replyToQueueManager,
      format: fields.format,
      properties: fields.properties,
      deadLetter: fields.deadLetter,
      descriptor: fields.descriptor,
      body: Buffer.from(fields.body),
    };
  }

  /** A browse cursor on a queue (MQGMO_BROWSE_FIRST / BROWSE_NEXT), optionally matching ids. */
  browse(queueName: string, options: BrowseOptions = {}): BrowseCursor {
    this.#check();
    const queue = this.#host.queues.queue(queueName);
    const request = validateBrowse(options);
    return new BrowseCursor(this, queue, makeMatch(request.messageId, request.correlationId),
      request.selector);
  }

  /** The next message after `after` in delivery order, read without taking it. */
  async browseAfter(queue: Queue, match: Match, selector: Selector | undefined,
    after: CursorPosition | undefined): Promise<{ message: Message; position: CursorPosition }> {
    this.#check();
    if (queue.deleted) throw Errors.unknownQueue(queue.name);
    // IBM MQ's InhibitGet refuses browses (BROWSE_FIRST / BROWSE_NEXT) as well as gets.
    if (queue.attributes.getInhibited) throw Errors.getInhibited(queue.name);
    const found = await this.#selectNext(queue, match, selector, after);
    if (found === undefined) throw Errors.noMessage(queue.name);
    return { message: this.#message(queue, found.slot, found.record), position: found.position };
  }

  async commit(): Promise<void> {
    this.#check();
    const unit = this.#unit;
    if (unit === undefined) return;
    this.#unit = undefined;
    await this.#host.syncpoint.commit(unit);
  }

  async backout(): Promise<void> {
    this.#check();
    const unit = this.#unit;
    if (unit === undefined) return;
    this.#unit = undefined;
    await this.#host.syncpoint.backout(unit);
  }

  /**
   * Prepares the open unit of work under `xid` (phase one). The unit then belongs to the
   * controller: `controller.resolve(xid, 'commit' | 'rollback')` ends it, even after a remount.
   */
  async prepare(xid: string): Promise<void> {
    this.#check();
    if (typeof xid !== 'string' || xid.length === 0 || utf8Length(xid) > XID_BYTES_MAX) {
      throw Errors.invalidArgument(`xid must be a non-empty string of at most ${XID_BYTES_MAX} bytes`);
    }
    // Refused before the unit leaves the session, which can then still commit or back it out.
    if (this.#host.syncpoint.prepared.has(xid)) throw Errors.duplicateXid(xid);
    const unit = this.#unit ?? this.#host.syncpoint.begin();
    this.#unit = undefined;
    await this.#host.syncpoint.prepare(unit, xid);
  }

  /** Backs out the open unit, ends waits, closes input opens. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.cancelWaits(Errors.closed('the session'));
    const unit = this.#unit;
    this.#unit = undefined;
    try {
      if (unit !== undefined && this.#host.queues.store.failure === undefined) {
        await this.#host.syncpoint.backout(unit);
      }
    } finally {
      for (const name of this.#opened.keys()) {
        const queue = this.#host.queues.byName.get(name);
        if (queue !== undefined) queue.openInput--;
      }
      this.#opened.clear();
      this.#host.queues.locks.releaseOwner(this.owner);
      this.#host.ended(this);
    }
  }
}

export class BrowseCursor {
  readonly #session: Session;
  readonly #queue: Queue;
  readonly #match: Match;
  readonly #selector: Selector | undefined;
  #position: CursorPosition | undefined;

  constructor(session: Session, queue: Queue, match: Match, selector: Selector | undefined) {
    this.#session = session;
    this.#queue = queue;
    this.#match = match;
    this.#selector = selector;
  }

  /** The first message in delivery order (MQGMO_BROWSE_FIRST); moves the cursor to it. */
  async first(): Promise<Message> {
    this.#position = undefined;
    return this.next();
  }

  /** The message after the cursor (MQGMO_BROWSE_NEXT); E_NO_MSG at the end. */
  async next(): Promise<Message> {
    const { message, position } = await this.#session.browseAfter(this.#queue, this.#match,
      this.#selector, this.#position);
    this.#position = position;
    return message;
  }
}

/**
 * The SAN controller (WO 2004/010284): it mounts one LUN and controls the message queues on it
 * on behalf of its clients, with a syncpoint coordinator (units of work, two-phase commit), a
 * lock manager and the persistence of messages. Applications and queue managers reach it
 * through sessions. This is the embedded API: `Controller.mount(path)` in-process, no server.
 */
import { randomBytes } from 'node:crypto';

import { Errors, SanmqError } from '../errors.js';
import { exists } from '../files.js';
import { listen, type Listener, type ListenOptions } from '../protocol/listener.js';
import type { Transport } from '../protocol/transport.js';
import type { QueueManager, QueueManagerOptions } from '../qm/queue-manager.js';
import { constants } from '../storage/binding.js';
import { Lun, type FormatOptions, type OpenOptions } from '../storage/lun.js';
import {
  applyAttributes,
  defaultAttributes,
  requireName,
  type QueueAttributes,
} from './attributes.js';
import { encodeCatalog, RECORD_CONTROLLER, RECORD_QUEUE } from './codec.js';
import { LockManager } from './locks.js';
import { MemberService } from './members.js';
import { NO_ADDRESS } from './message-index.js';
import { Queue } from './queue.js';
import { QueueStore } from './queue-store.js';
import { recoverCatalog, recoverMessages, type MountReport } from './recovery.js';
import { Session } from './session.js';
import { MessageStore, PAGE_SET_CATALOG, type StoreStats } from './store.js';
import { Syncpoint, type Outcome } from './units.js';
import { controllerOptions, type MountOptions } from './mount-options.js';

export const DEFAULT_DEAD_LETTER_QUEUE = 'SYSTEM.DEAD.LETTER.QUEUE';

export interface QueueInfo {
  name: string;
  attributes: QueueAttributes;
  /** CURDEPTH: committed messages plus uncommitted puts. */
  depth: number;
  /** Uncommitted puts and messages gotten under syncpoint not yet committed. */
  uncommitted: number;
  openInput: number;
  puts: number;
  gets: number;
  lastPutTime: Date | undefined;
  lastGetTime: Date | undefined;
}

export interface InDoubtUnit {
  xid: string;
  unitId: number;
  puts: number;
  gets: number;
  queues: string[];
  /** Prepared before the last mount (recovered from the LUN) rather than by a live session. */
  recovered: boolean;
  preparedAt: Date | undefined;
}

export interface ControllerStats {
  sessions: number;
  queues: number;
  messages: number;
  /** Bytes of the in-memory message index (typed arrays), and per queued message. */
  indexBytes: number;
  indexBytesPerMessage: number;
  commits: number;
  backouts: number;
  expired: number;
  inDoubt: number;
  store: StoreStats;
}

export class Controller {
  readonly path: string;
  readonly locks: LockManager;
  readonly mountReport: MountReport;
  readonly queues: QueueStore;
  readonly syncpoint: Syncpoint;
  readonly messageIdPrefix: Buffer;
  readonly recordBytesMax: number;
  readonly messageLengthMax: number;
  readonly nonPersistentBytesMax: number;
  readonly #lun: Lun;
  readonly #sessions = new Set<Session>();
  readonly #sessionsMax: number;
  #nextSessionId = 1;
  #messageCounter = 0;
  #nextQueueId: number;
  #controllerAddress: number;
  #timer: NodeJS.Timeout | undefined;
  #unmounted = false;
  #admin: Promise<unknown> = Promise.resolve();
  /** The controller's own connection, for trigger messages. */
  #system: Session | undefined;
  /** The queue managers connected through the protocol (events: member-joined, -ended). */
  readonly members: MemberService;
  readonly #listeners = new Set<Listener>();
  /** Stops what was started on this controller (queue managers) before it unmounts. */
  readonly #stops = new Set<() => Promise<void>>();

  private constructor(path: string, lun: Lun, parts: {
    locks: LockManager; queues: QueueStore; syncpoint: Syncpoint; report: MountReport;
    nextQueueId: number; controllerAddress: number; sessionsMax: number; expiryIntervalMs: number;
    recordBytesMax: number; messageLengthMax: number; nonPersistentBytesMax: number;
  }) {
    this.path = path;
    this.#lun = lun;
    this.locks = parts.locks;
    this.queues = parts.queues;
    this.syncpoint = parts.syncpoint;
    this.mountReport = parts.report;
    this.#nextQueueId = parts.nextQueueId;
    this.#controllerAddress = parts.controllerAddress;
    this.#sessionsMax = parts.sessionsMax;
    this.recordBytesMax = parts.recordBytesMax;
    this.messageLengthMax = parts.messageLengthMax;
    this.nonPersistentBytesMax = parts.nonPersistentBytesMax;
    this.messageIdPrefix = Buffer.concat([Buffer.from('SNMQ'), randomBytes(12)]);
    this.members = new MemberService({
      session: () => this.session(),
      check: () => this.check(),
      recordBytesMax: this.recordBytesMax,
      queueInfo: (name) => plain(this.queue(name)),
      inDoubtList: () => plain(this.inDoubt()),
      resolve: (xid, outcome) => this.resolve(xid, outcome),
    });
    this.queues.onTrigger = (queue) => this.#trigger(queue);
    this.queues.store.onMoves = (moves) => this.#moved(moves);
    if (parts.expiryIntervalMs > 0) {
      this.#timer = setInterval(() => this.queues.sweepExpired(Date.now()), parts.expiryIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Mounts a LUN: opens it as its only writer, recovers the catalog, the committed messages
   * and the units of work (uncommitted ones are rolled back, prepared ones are in doubt).
   */
  static async mount(path: string, options: MountOptions = {}): Promise<Controller> {
    const started = performance.now();
    const o = controllerOptions(options);
    if (o.create !== undefined && !(await exists(path))) await Lun.format(path, o.create);
    const lun = await Lun.open(path, o.lun);
    try {
      const recordBytesMax = Math.min(constants.recordBytesMax,
        lun.geometry.appendBytesMax - constants.recordHeaderBytes - constants.recordAlign);
      const messageLengthMax = recordBytesMax - 64 * 1024;
      const store = new MessageStore(lun, { cacheBytes: o.cacheBytes,
        compactBelowFreeRatio: o.compactBelowFreeRatio });
      const locks = new LockManager();
      const queues = new QueueStore(store, locks);
      const syncpoint = new Syncpoint(queues, { unitMessagesMax: o.unitMessagesMax,
        appendBytesMax: lun.geometry.appendBytesMax });
      const catalog = await recoverCatalog(queues, messageLengthMax);
      const recovered = await recoverMessages(queues, syncpoint);
      const { highestQueueId, ...counts } = recovered;
      const report: MountReport = { durationMs: 0, lun: lun.recovery, queues: queues.byName.size,
        ...counts };
      const controller = new Controller(path, lun, { locks, queues, syncpoint, report,
        nextQueueId: Math.max(catalog.nextQueueId, highestQueueId + 1),
        controllerAddress: catalog.controllerAddress, sessionsMax: o.sessionsMax,
        expiryIntervalMs: o.expiryIntervalMs, recordBytesMax, messageLengthMax,
        nonPersistentBytesMax: o.nonPersistentBytesMax });
      queues.deadLetterQueue = catalog.deadLetterQueue;
      if (catalog.controllerAddress === -1) await controller.#firstMount();
      report.queues = queues.byName.size;
      report.durationMs = performance.now() - started;
      return controller;
    } catch (error) {
      await lun.close().catch(() => undefined);
      throw error;
    }
  }

  /** A new LUN gets the dead-letter queue and the controller record. */
  async #firstMount(): Promise<void> {
    if (!this.queues.byName.has(DEFAULT_DEAD_LETTER_QUEUE)) {
      await this.defineQueue(DEFAULT_DEAD_LETTER_QUEUE, {
        description: 'dead-letter queue', maxDepth: 999_999_999,
      });
    }
    await this.setDeadLetterQueue(DEFAULT_DEAD_LETTER_QUEUE);
  }

  get mounted(): boolean {
    return !this.#unmounted;
  }

  /** The LUN under the controller (read access to its geometry, space and stats). */
  get lun(): Lun {
    return this.#lun;
  }

  check(): void {
    if (this.#unmounted) throw Errors.closed('the controller');
    this.queues.store.check();
  }

  nextMessageCounter(): number {
    return ++this.#messageCounter;
  }

  /** Catalog changes run one at a time (they read and replace catalog records). */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#admin.then(work, work);
    this.#admin = run.catch(() => undefined);
    return run;
  }

  /** DEFINE QLOCAL: creates a queue (or, with `replace`, redefines its attributes). */
  defineQueue(name: string, attributes: Partial<QueueAttributes> = {},
    options: { replace?: boolean } = {}): Promise<QueueInfo> {
    return this.#serial(async () => {
      this.check();
      requireName(name, 'queue name');
      const replace = flagOption(options, 'replace', 'defineQueue');
      const existing = this.queues.byName.get(name);
      if (existing !== undefined) {
        if (!replace) throw Errors.queueExists(name);
        // As MQSC's DEFINE … REPLACE: what is not given returns to its default.
        return this.#alter(existing, { ...defaultAttributes(this.messageLengthMax), ...attributes });
      }
      const resolved = applyAttributes(defaultAttributes(this.messageLengthMax), attributes,
        this.messageLengthMax);
      const id = this.#nextQueueId++;
      const [address] = await this.queues.store.append(PAGE_SET_CATALOG,
        [encodeCatalog(RECORD_QUEUE, { id, name, attributes: resolved })]) as [number];
      const queue = new Queue(id, name, resolved, address);
      this.queues.byName.set(name, queue);
      this.queues.byId.set(id, queue);
      return this.#info(queue);
    });
  }

  /** ALTER QLOCAL: changes attributes durably. */
  alterQueue(name: string, changes: Partial<QueueAttributes>): Promise<QueueInfo> {
    return this.#serial(async () => {
      this.check();
      return this.#alter(this.queues.queue(name), changes);
    });
  }

  async #alter(queue: Queue, changes: Partial<QueueAttributes>): Promise<QueueInfo> {
    const resolved = applyAttributes(queue.attributes, changes, this.messageLengthMax);
    const [address] = await this.queues.store.append(PAGE_SET_CATALOG,
      [encodeCatalog(RECORD_QUEUE, { id: queue.id, name: queue.name, attributes: resolved })],
      () => [queue.catalogAddress]) as [number];
    const relist = resolved.deliverySequence !== queue.attributes.deliverySequence;
    queue.catalogAddress = address;
    queue.attributes = resolved;
    if (relist) queue.relist(this.queues.store.index);
    // As in IBM MQ, inhibiting gets ends the waits on the queue (MQGMO_WAIT: GET_INHIBITED).
    if (resolved.getInhibited) {
      for (const session of this.#sessions) {
        session.cancelWaits(Errors.getInhibited(queue.name), queue);
      }
    }
    // A queue whose gets are allowed again may serve the messages that arrived meanwhile.
    this.queues.arrived(queue, 0);
    return this.#info(queue);
  }

  /**
   * DELETE QLOCAL: refuses a queue that is open or has uncommitted work, and one that holds
   * messages unless `purge` (which discards them durably first).
   */
  deleteQueue(name: string, options: { purge?: boolean } = {}): Promise<void> {
    return this.#serial(async () => {
      this.check();
      const purge = flagOption(options, 'purge', 'deleteQueue');
      const queue = this.queues.queue(name);
      if (name === this.queues.deadLetterQueue) {
        throw Errors.objectInUse(`queue '${name}' is the dead-letter queue; set another first`);
      }
      if (queue.openInput > 0 || queue.uncommittedPuts > 0 || queue.locked > 0) {
        throw Errors.objectInUse(`queue '${name}' is open or has uncommitted messages`);
      }
      if (queue.lists.count > 0 && !purge) {
        throw Errors.queueNotEmpty(name, queue.lists.count);
      }
      await this.#purge(queue);
      await this.queues.store.release(() => [queue.catalogAddress], PAGE_SET_CATALOG);
      queue.deleted = true;
      this.queues.byName.delete(name);
      this.queues.byId.delete(queue.id);
    });
  }

  /** Discards every committed message of a queue (CLEAR QLOCAL); returns how many. */
  clearQueue(name: string): Promise<number> {
    return this.#serial(async () => {
      this.check();
      const queue = this.queues.queue(name);
      if (queue.locked > 0 || queue.uncommittedPuts > 0) {
        throw Errors.objectInUse(`queue '${name}' has uncommitted messages`);
      }
      return this.#purge(queue);
    });
  }

  async #purge(queue: Queue): Promise<number> {
    const index = this.queues.store.index;
    const slots = [...queue.lists.slots(index)];
    for (const slot of slots) queue.claim(index, slot);
    try {
      await this.queues.store.release(() => slots.map((slot) => index.address[slot] as number)
        .filter((address) => address !== NO_ADDRESS));
    } catch (error) {
      for (const slot of slots) queue.unclaim(index, slot);
      throw error;
    }
    for (const slot of slots) this.queues.remove(queue, slot);
    return slots.length;
  }

  queue(name: string): QueueInfo {
    this.check();
    return this.#info(this.queues.queue(name));
  }

  queueNames(): string[] {
    return [...this.queues.byName.keys()].sort();
  }

  /** Every queue, by name. */
  queueList(): QueueInfo[] {
    this.check();
    return this.queueNames().map((name) => this.#info(this.queues.queue(name)));
  }

  #info(queue: Queue): QueueInfo {
    return {
      name: queue.name,
      attributes: { ...queue.attributes },
      depth: queue.depth,
      uncommitted: queue.uncommittedPuts + queue.locked,
      openInput: queue.openInput,
      puts: queue.puts,
      gets: queue.gets,
      lastPutTime: queue.lastPutTime === 0 ? undefined : new Date(queue.lastPutTime),
      lastGetTime: queue.lastGetTime === 0 ? undefined : new Date(queue.lastGetTime),
    };
  }

  get deadLetterQueue(): string {
    return this.queues.deadLetterQueue;
  }

  /** DEADQ: the controller's dead-letter queue ('' for none). */
  setDeadLetterQueue(name: string): Promise<void> {
    return this.#serial(async () => {
      this.check();
      if (name !== '') this.queues.queue(requireName(name, 'deadLetterQueue'));
      const record = encodeCatalog(RECORD_CONTROLLER, { deadLetterQueue: name });
      const old = this.#controllerAddress;
      const [address] = await this.queues.store.append(PAGE_SET_CATALOG, [record],
        () => (this.#controllerAddress === -1 ? [] : [this.#controllerAddress])) as [number];
      if (old === -1 || old !== address) this.#controllerAddress = address;
      this.queues.deadLetterQueue = name;
    });
  }

  /** A new connection (an IBM MQ hconn) with put / get / browse and a unit of work. */
  session(): Session {
    this.check();
    if (this.#sessions.size >= this.#sessionsMax) {
      throw new SanmqError('E_BUSY', `the controller has ${this.#sessions.size} sessions; at most ${this.#sessionsMax}`);
    }
    const session = new Session(this, this.#nextSessionId++);
    this.#sessions.add(session);
    return session;
  }

  ended(session: Session): void {
    this.#sessions.delete(session);
  }

  /** Prepared units of work waiting for their outcome (after a remount too). */
  inDoubt(): InDoubtUnit[] {
    this.check();
    return [...this.syncpoint.prepared.values()].map((unit) => ({
      xid: unit.xid,
      unitId: unit.id,
      puts: unit.puts.length,
      gets: unit.gets.length,
      queues: [...new Set([...unit.puts, ...unit.gets].map((x) => x.queue.name))].sort(),
      recovered: unit.recovered,
      preparedAt: unit.preparedAt === 0 ? undefined : new Date(unit.preparedAt),
    })).sort((a, b) => a.xid.localeCompare(b.xid));
  }

  /** Resolves an in-doubt unit: commit or roll back (RESOLVE INDOUBT ACTION(COMMIT|BACKOUT)). */
  async resolve(xid: string, outcome: Outcome): Promise<void> {
    this.check();
    if (outcome !== 'commit' && outcome !== 'rollback') {
      throw Errors.invalidArgument("outcome must be 'commit' or 'rollback'");
    }
    await this.syncpoint.resolve(xid, outcome);
  }

  stats(): ControllerStats {
    const index = this.queues.store.index;
    return {
      sessions: this.#sessions.size,
      queues: this.queues.byName.size,
      messages: index.count,
      indexBytes: index.heapBytes(),
      indexBytesPerMessage: index.count === 0 ? 0 : index.heapBytes() / index.count,
      commits: this.syncpoint.commits,
      backouts: this.syncpoint.backouts,
      expired: this.queues.expired,
      inDoubt: this.syncpoint.prepared.size,
      store: this.queues.store.stats(),
    };
  }

  /** Compacts the LUN's sparse segments now (the controller also does it when space is short). */
  async compact(liveRatioMax = 0.5): Promise<void> {
    this.check();
    if (typeof liveRatioMax !== 'number' || !(liveRatioMax >= 0 && liveRatioMax <= 0.9)) {
      throw Errors.invalidArgument('liveRatioMax must be a number from 0 to 0.9');
    }
    await this.queues.store.compact(liveRatioMax);
  }

  /** Puts a trigger message (non-persistent, as IBM MQ's are) on the initiation queue. */
  #trigger(queue: Queue): void {
    const a = queue.attributes;
    const initiation = this.queues.byName.get(a.initiationQueue);
    if (a.triggerType === 'depth') {
      this.alterQueue(queue.name, { triggerControl: false }).catch(() => undefined);
      a.triggerControl = false;
    }
    const body = Buffer.from(JSON.stringify({ queue: queue.name, processName: a.processName,
      triggerData: a.triggerData, triggerType: a.triggerType }));
    if (!this.queues.accepts(initiation, body.length)) return;
    this.#system ??= new Session(this, 0);
    this.#system.put(initiation.name, { body, persistent: false, format: 'MQTRIG',
      properties: { triggerQueue: queue.name } }).catch(() => undefined);
  }

  #moved(moves: Map<number, number>): void {
    this.syncpoint.moved(moves);
    for (const queue of this.queues.byName.values()) {
      const to = moves.get(queue.catalogAddress);
      if (to !== undefined) queue.catalogAddress = to;
    }
    const to = moves.get(this.#controllerAddress);
    if (to !== undefined) this.#controllerAddress = to;
  }

  /** Serves a queue manager's connection to this controller (a MessagePort or a socket). */
  attachMember(transport: Transport): void {
    this.check();
    this.members.attach(transport);
  }

  /**
   * Listens for queue managers in other processes or on other hosts (TCP; 127.0.0.1 unless
   * told otherwise, and then only with a shared secret or TLS).
   */
  async listen(options: ListenOptions = {}): Promise<Listener> {
    this.check();
    const secret = options.secret;
    const listener = await listen(options,
      (transport) => this.members.attach(transport, { secret }));
    this.#listeners.add(listener);
    return listener;
  }

  /** Starts a queue manager in a worker thread, connected to this controller. */
  async startQueueManager(options: QueueManagerOptions): Promise<QueueManager> {
    this.check();
    // The queue-manager layer sits above this one; it is loaded only when a member starts.
    const { QueueManager: Manager } = await import('../qm/queue-manager.js');
    const manager = await Manager.start(this, options);
    // Kept after it ends too: it may be restarted, and stop() of an ended one does nothing.
    this.#stops.add(() => manager.stop());
    return manager;
  }

  /**
   * Stops the queue managers started here and closes member connections, then closes every
   * session (backing out their units of work), then flushes and releases the LUN. Prepared
   * units stay in doubt on the LUN.
   */
  async unmount(): Promise<void> {
    if (this.#unmounted) throw Errors.closed('the controller');
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await Promise.allSettled([...this.#stops].map((stop) => stop()));
    await Promise.allSettled([...this.#listeners].map((listener) => listener.close()));
    await this.members.close();
    await this.#admin;
    const sessions = [...this.#sessions];
    await Promise.allSettled(sessions.map((session) => session.close()));
    this.#unmounted = true;
    await this.#lun.close();
  }
}

/** What travels as plain data: dates become ISO strings, undefined fields go. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** A boolean option of an options object that knows only it; unknown keys are refused. */
function flagOption(options: unknown, key: string, method: string): boolean {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw Errors.invalidArgument('options must be an object');
  }
  for (const name of Object.keys(options)) {
    if (name !== key) throw Errors.invalidArgument(`${method} has no option '${name}'`);
  }
  const value = (options as Record<string, unknown>)[key];
  if (value !== undefined && typeof value !== 'boolean') {
    throw Errors.invalidArgument(`options.${key} must be true or false`);
  }
  return value === true;
}

export type { MountOptions, FormatOptions, OpenOptions };

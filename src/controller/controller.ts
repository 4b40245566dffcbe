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
import type { QueueAttributes } from './attributes.js';
import { Catalog, type QueueInfo } from './catalog.js';
import { ChannelCatalog } from './channel-catalog.js';
import type { ChannelAttributes, ChannelDefinition } from '../channels/definition.js';
import { decodeStatus, OWNED_STATUSES } from '../channels/status.js';
import { LockManager } from './locks.js';
import { MemberService } from './members.js';
import type { Queue } from './queue.js';
import { QueueStore } from './queue-store.js';
import { recoverCatalog, recoverMessages, type MountReport } from './recovery.js';
import { Session } from './session.js';
import { MessageStore, type StoreStats } from './store.js';
import { Syncpoint, type Outcome } from './units.js';
import { controllerOptions, type MountOptions } from './mount-options.js';

export const DEFAULT_DEAD_LETTER_QUEUE = 'SYSTEM.DEAD.LETTER.QUEUE';
export type { QueueInfo };


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
  readonly #catalog: Catalog;
  readonly #channels: ChannelCatalog;
  #timer: NodeJS.Timeout | undefined;
  #unmounted = false;
  /** The controller's own connection, for trigger messages. */
  #system: Session | undefined;
  /** The queue managers connected through the protocol (events: member-joined, -ended). */
  readonly members: MemberService;
  readonly #listeners = new Set<Listener>();
  /** Stops what was started on this controller (queue managers) before it unmounts. */
  readonly #stops = new Set<() => Promise<void>>();
  readonly #managers: QueueManager[] = [];

  private constructor(path: string, lun: Lun, parts: {
    locks: LockManager; queues: QueueStore; syncpoint: Syncpoint; report: MountReport;
    nextQueueId: number; controllerAddress: number; sessionsMax: number; expiryIntervalMs: number;
    channels: Map<string, { definition: ChannelDefinition; address: number }>;
    recordBytesMax: number; messageLengthMax: number; nonPersistentBytesMax: number;
  }) {
    this.path = path;
    this.#lun = lun;
    this.locks = parts.locks;
    this.queues = parts.queues;
    this.syncpoint = parts.syncpoint;
    this.mountReport = parts.report;
    this.#catalog = new Catalog(parts.queues, { check: () => this.check(),
      sessions: () => this.#sessions }, { messageLengthMax: parts.messageLengthMax,
      nextQueueId: parts.nextQueueId, controllerAddress: parts.controllerAddress });
    this.#channels = new ChannelCatalog({ check: () => this.check(),
      serial: (work) => this.#catalog.serial(work), store: parts.queues.store, slots: lun.slots },
    parts.channels);
    this.#channels.isActive = async (name) => {
      const entry = decodeStatus(await lun.slots.read(this.channel(name).statusSlot));
      return entry !== undefined && OWNED_STATUSES.has(entry.status) && entry.owner !== '' &&
        this.members.connected('channel-initiator', entry.owner);
    };
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
      statusSlots: lun.slots,
      channelList: () => this.channelList(),
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
        controllerAddress: catalog.controllerAddress, channels: catalog.channels,
        sessionsMax: o.sessionsMax,
        expiryIntervalMs: o.expiryIntervalMs, recordBytesMax, messageLengthMax,
        nonPersistentBytesMax: o.nonPersistentBytesMax });
      queues.deadLetterQueue = catalog.deadLetterQueue;
      if (!controller.#catalog.initialized) await controller.#firstMount();
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

  /** DEFINE QLOCAL: creates a queue (or, with `replace`, redefines its attributes). */
  defineQueue(name: string, attributes: Partial<QueueAttributes> = {},
    options: { replace?: boolean } = {}): Promise<QueueInfo> {
    return this.#catalog.defineQueue(name, attributes, options);
  }

  /** ALTER QLOCAL: changes attributes durably. */
  alterQueue(name: string, changes: Partial<QueueAttributes>): Promise<QueueInfo> {
    return this.#catalog.alterQueue(name, changes);
  }

  /**
   * DELETE QLOCAL: refuses a queue that is open or has uncommitted work, and one that holds
   * messages unless `purge` (which discards them durably first).
   */
  deleteQueue(name: string, options: { purge?: boolean } = {}): Promise<void> {
    return this.#catalog.deleteQueue(name, options);
  }

  /** Discards every committed message of a queue (CLEAR QLOCAL); returns how many. */
  clearQueue(name: string): Promise<number> {
    return this.#catalog.clearQueue(name);
  }

  queue(name: string): QueueInfo {
    return this.#catalog.queue(name);
  }

  queueNames(): string[] {
    return this.#catalog.queueNames();
  }

  /** Every queue, by name. */
  queueList(): QueueInfo[] {
    return this.#catalog.queueList();
  }

  get deadLetterQueue(): string {
    return this.queues.deadLetterQueue;
  }

  /** DEADQ: the controller's dead-letter queue ('' for none). */
  setDeadLetterQueue(name: string): Promise<void> {
    return this.#catalog.setDeadLetterQueue(name);
  }

  /**
   * DEFINE CHANNEL: a channel every member of the group sees (E_CHANNEL_EXISTS unless
   * `replace`); it is given its slot in the shared channel status table.
   */
  defineChannel(name: string, attributes: Partial<ChannelAttributes> & Pick<ChannelAttributes, 'type'>,
    options: { replace?: boolean } = {}): Promise<ChannelDefinition> {
    return this.#channels.defineChannel(name, attributes, options);
  }

  /** ALTER CHANNEL. */
  alterChannel(name: string, changes: Partial<ChannelAttributes>): Promise<ChannelDefinition> {
    return this.#channels.alterChannel(name, changes);
  }

  /** DELETE CHANNEL: refused (E_CHANNEL_ACTIVE) while an instance of it runs. */
  deleteChannel(name: string): Promise<void> {
    return this.#channels.deleteChannel(name);
  }

  /** A channel's definition (E_UNKNOWN_CHANNEL). */
  channel(name: string): ChannelDefinition {
    return this.#channels.channel(name);
  }

  /** Every channel definition, by name. */
  channelList(): ChannelDefinition[] {
    return this.#channels.channelList();
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
    this.#catalog.moved(moves);
    this.#channels.moved(moves);
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
    this.#managers.push(manager);
    return manager;
  }

  /** The queue managers started here (running or not), in the order they were started. */
  queueManagers(): QueueManager[] {
    return [...this.#managers];
  }

  /**
   * Defines the group's channel queues when they are missing: the shared sync queue
   * (SYSTEM.QSG.CHANNEL.SYNCQ, channels' synchronisation data) and the channel initiation
   * queue (SYSTEM.CHANNEL.INITQ, where transmission queues put their trigger messages).
   */
  async defineChannelQueues(): Promise<void> {
    this.check();
    for (const [name, attributes] of [
      ['SYSTEM.QSG.CHANNEL.SYNCQ', { maxDepth: 999_999_999, defaultPersistent: true,
        description: 'channel synchronisation data' }],
      ['SYSTEM.CHANNEL.INITQ', { maxDepth: 100_000, description: 'channel trigger messages' }],
    ] as const) {
      if (this.queues.byName.has(name)) continue;
      await this.defineQueue(name, attributes).catch((error: unknown) => {
        if (!(error instanceof SanmqError && error.code === 'E_Q_EXISTS')) throw error;
      });
    }
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
    await this.#catalog.idle();
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


export type { MountOptions, FormatOptions, OpenOptions };

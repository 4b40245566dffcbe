/**
 * The controller's catalog (page set 0) and the queue administration that changes it, as
 * MQSC's DEFINE, ALTER, DELETE and CLEAR QLOCAL and the queue manager's DEADQ do: each change
 * is a catalog record appended (replacing the one before) before it takes effect, and changes
 * run one at a time.
 */
import { Errors } from '../errors.js';
import {
  applyAttributes,
  defaultAttributes,
  requireName,
  type QueueAttributes,
} from './attributes.js';
import { encodeCatalog, RECORD_CONTROLLER, RECORD_QUEUE } from './codec.js';
import { NO_ADDRESS } from './message-index.js';
import { Queue } from './queue.js';
import type { QueueStore } from './queue-store.js';
import type { Session } from './session.js';
import { PAGE_SET_CATALOG } from './store.js';

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

/** What the catalog needs of its controller. */
export interface CatalogHost {
  check(): void;
  sessions(): Iterable<Session>;
}

export class Catalog {
  readonly #queues: QueueStore;
  readonly #host: CatalogHost;
  readonly #messageLengthMax: number;
  #nextQueueId: number;
  /** Address of the controller record (-1: none yet, a new LUN). */
  #controllerAddress: number;
  #admin: Promise<unknown> = Promise.resolve();

  constructor(queues: QueueStore, host: CatalogHost, parts: { messageLengthMax: number;
    nextQueueId: number; controllerAddress: number; }) {
    this.#queues = queues;
    this.#host = host;
    this.#messageLengthMax = parts.messageLengthMax;
    this.#nextQueueId = parts.nextQueueId;
    this.#controllerAddress = parts.controllerAddress;
  }

  /** Whether the LUN has its controller record (false on a LUN mounted the first time). */
  get initialized(): boolean {
    return this.#controllerAddress !== -1;
  }

  /** Resolves when no catalog change is running. */
  idle(): Promise<unknown> {
    return this.#admin;
  }

  /** Compaction moved records: the catalog's addresses follow them. */
  moved(moves: Map<number, number>): void {
    for (const queue of this.#queues.byName.values()) {
      const to = moves.get(queue.catalogAddress);
      if (to !== undefined) queue.catalogAddress = to;
    }
    const to = moves.get(this.#controllerAddress);
    if (to !== undefined) this.#controllerAddress = to;
  }

  /** Catalog changes run one at a time (they read and replace catalog records). */
  serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#admin.then(work, work);
    this.#admin = run.catch(() => undefined);
    return run;
  }

  /** DEFINE QLOCAL: creates a queue (or, with `replace`, redefines its attributes). */
  defineQueue(name: string, attributes: Partial<QueueAttributes> = {},
    options: { replace?: boolean } = {}): Promise<QueueInfo> {
    return this.serial(async () => {
      this.#host.check();
      requireName(name, 'queue name');
      const replace = flagOption(options, 'replace', 'defineQueue');
      const existing = this.#queues.byName.get(name);
      if (existing !== undefined) {
        if (!replace) throw Errors.queueExists(name);
        // As MQSC's DEFINE … REPLACE: what is not given returns to its default.
        return this.#alter(existing, { ...defaultAttributes(this.#messageLengthMax), ...attributes });
      }
      const resolved = applyAttributes(defaultAttributes(this.#messageLengthMax), attributes,
        this.#messageLengthMax);
      const id = this.#nextQueueId++;
      const [address] = await this.#queues.store.append(PAGE_SET_CATALOG,
        [encodeCatalog(RECORD_QUEUE, { id, name, attributes: resolved })]) as [number];
      const queue = new Queue(id, name, resolved, address);
      this.#queues.byName.set(name, queue);
      this.#queues.byId.set(id, queue);
      return this.info(queue);
    });
  }

  /** ALTER QLOCAL: changes attributes durably. */
  alterQueue(name: string, changes: Partial<QueueAttributes>): Promise<QueueInfo> {
    return this.serial(async () => {
      this.#host.check();
      return this.#alter(this.#queues.queue(name), changes);
    });
  }

  async #alter(queue: Queue, changes: Partial<QueueAttributes>): Promise<QueueInfo> {
    const resolved = applyAttributes(queue.attributes, changes, this.#messageLengthMax);
    const [address] = await this.#queues.store.append(PAGE_SET_CATALOG,
      [encodeCatalog(RECORD_QUEUE, { id: queue.id, name: queue.name, attributes: resolved })],
      () => [queue.catalogAddress]) as [number];
    const relist = resolved.deliverySequence !== queue.attributes.deliverySequence;
    queue.catalogAddress = address;
    queue.attributes = resolved;
    if (relist) queue.relist(this.#queues.store.index);
    // As in IBM MQ, inhibiting gets ends the waits on the queue (MQGMO_WAIT: GET_INHIBITED).
    if (resolved.getInhibited) {
      for (const session of this.#host.sessions()) {
        session.cancelWaits(Errors.getInhibited(queue.name), queue);
      }
    }
    // A queue whose gets are allowed again may serve the messages that arrived meanwhile.
    this.#queues.arrived(queue, 0);
    return this.info(queue);
  }

  /**
   * DELETE QLOCAL: refuses a queue that is open or has uncommitted work, and one that holds
   * messages unless `purge` (which discards them durably first).
   */
  deleteQueue(name: string, options: { purge?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      this.#host.check();
      const purge = flagOption(options, 'purge', 'deleteQueue');
      const queue = this.#queues.queue(name);
      if (name === this.#queues.deadLetterQueue) {
        throw Errors.objectInUse(`queue '${name}' is the dead-letter queue; set another first`);
      }
      if (queue.openInput > 0 || queue.uncommittedPuts > 0 || queue.locked > 0) {
        throw Errors.objectInUse(`queue '${name}' is open or has uncommitted messages`);
      }
      if (queue.lists.count > 0 && !purge) {
        throw Errors.queueNotEmpty(name, queue.lists.count);
      }
      await this.#purge(queue);
      await this.#queues.store.release(() => [queue.catalogAddress], PAGE_SET_CATALOG);
      queue.deleted = true;
      this.#queues.byName.delete(name);
      this.#queues.byId.delete(queue.id);
    });
  }

  /** Discards every committed message of a queue (CLEAR QLOCAL); returns how many. */
  clearQueue(name: string): Promise<number> {
    return this.serial(async () => {
      this.#host.check();
      const queue = this.#queues.queue(name);
      if (queue.locked > 0 || queue.uncommittedPuts > 0) {
        throw Errors.objectInUse(`queue '${name}' has uncommitted messages`);
      }
      return this.#purge(queue);
    });
  }

  async #purge(queue: Queue): Promise<number> {
    const index = this.#queues.store.index;
    const slots = [...queue.lists.slots(index)];
    for (const slot of slots) queue.claim(index, slot);
    try {
      await this.#queues.store.release(() => slots.map((slot) => index.address[slot] as number)
        .filter((address) => address !== NO_ADDRESS));
    } catch (error) {
      for (const slot of slots) queue.unclaim(index, slot);
      throw error;
    }
    for (const slot of slots) this.#queues.remove(queue, slot);
    return slots.length;
  }

  queue(name: string): QueueInfo {
    this.#host.check();
    return this.info(this.#queues.queue(name));
  }

  queueNames(): string[] {
    return [...this.#queues.byName.keys()].sort();
  }

  /** Every queue, by name. */
  queueList(): QueueInfo[] {
    this.#host.check();
    return this.queueNames().map((name) => this.info(this.#queues.queue(name)));
  }

  info(queue: Queue): QueueInfo {
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

  /** DEADQ: the controller's dead-letter queue ('' for none). */
  setDeadLetterQueue(name: string): Promise<void> {
    return this.serial(async () => {
      this.#host.check();
      if (name !== '') this.#queues.queue(requireName(name, 'deadLetterQueue'));
      const record = encodeCatalog(RECORD_CONTROLLER, { deadLetterQueue: name });
      const old = this.#controllerAddress;
      const [address] = await this.#queues.store.append(PAGE_SET_CATALOG, [record],
        () => (this.#controllerAddress === -1 ? [] : [this.#controllerAddress])) as [number];
      if (old === -1 || old !== address) this.#controllerAddress = address;
      this.#queues.deadLetterQueue = name;
    });
  }

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

/**
 * A sender message channel agent: one running instance of a sender channel. It locks the
 * shared transmission queue (an exclusive input open, through the controller's lock manager),
 * records itself in the shared channel status table, connects to the remote queue manager,
 * resolves the batch a failed instance left in doubt, and then moves the transmission queue in
 * batches: get under syncpoint, replace the sync record, prepare, send, and on the receiver's
 * confirmation commit. A failure at any point leaves either an open unit (backed out: the
 * messages go back) or a prepared one (in doubt: the next instance asks the receiver).
 */
import { SanmqError, isSanmqError } from '../errors.js';
import { ClientEndpoint } from '../protocol/endpoint.js';
import { FRAME_BYTES_MAX, PROTOCOL_VERSIONS, type Args } from '../protocol/frames.js';
import { dial } from '../protocol/listener.js';
import type { WireMessage } from '../protocol/messages.js';
import { parseConnection, type ChannelDefinition } from './definition.js';
import type { GroupClient, GroupSession } from './group.js';
import type { StatusEntry, StatusRead, StatusTable } from './status.js';
import { batchOfXid, batchXid, readSync, replaceSync } from './sync.js';
import { REPLY_TIMEOUT_MS, toChannel } from './wire.js';

/** How an instance ended, which decides what the initiator does next. */
export type SenderEnd =
  | { kind: 'stopped' }
  /** Another instance runs (the transmission queue is locked): nothing to do. */
  | { kind: 'active'; error: SanmqError }
  /** Failure scenario 1: the status table could not be updated. */
  | { kind: 'status'; error: SanmqError }
  /** Failure scenario 2: the remote queue manager or the link failed. */
  | { kind: 'comms'; error: SanmqError }
  /** The partners disagree (sequence numbers, names): an operator must look. */
  | { kind: 'protocol'; error: SanmqError }
  /** This member's own connection to the controller ended. */
  | { kind: 'member'; error: SanmqError };

export interface SenderHost {
  readonly name: string;
  readonly group: GroupClient;
  readonly status: StatusTable;
  /** Called with every status entry this instance writes (for logs and tests). */
  onStatus?(entry: StatusEntry): void;
  /** Called when the instance resolved a batch a failed instance left in doubt. */
  onResolved?(xid: string, outcome: 'commit' | 'rollback'): void;
}

/** Gets of one batch in flight at once. */
const GETS_IN_FLIGHT = 16;
/** Longest single get wait, so that a stop is seen within it. */
const WAIT_SLICE_MS = 500;
/**
 * The status entry's sequence numbers follow the first batch of an instance at once, then at
 * most this often (each update is an fdatasync of the slot; the sync records are what count).
 */
export const STATUS_INTERVAL_MS = 100;

export class SenderAgent {
  readonly #host: SenderHost;
  readonly definition: ChannelDefinition;
  #stopping = false;
  #client: ClientEndpoint | undefined;
  #session: GroupSession | undefined;
  #read: StatusRead | undefined;
  #instance = 0;
  #committed = 0;
  #wake: (() => void) | undefined;
  #statusAt = 0;
  /** Messages this instance sent and saw committed. */
  sent = 0;
  /** Settles once the instance runs (resolved) or could not start (rejected with why). */
  readonly started: Promise<void>;
  #settle: (error?: SanmqError) => void = () => undefined;

  constructor(host: SenderHost, definition: ChannelDefinition) {
    this.#host = host;
    this.definition = definition;
    this.started = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.started.catch(() => undefined);
  }

  get instance(): number {
    return this.#instance;
  }

  /** Asks the instance to end after the batch in flight (STOP CHANNEL, MODE(QUIESCE)). */
  stop(): void {
    this.#stopping = true;
    this.#wake?.();
  }

  /** Runs the instance until it is stopped or fails; never rejects. */
  async run(): Promise<SenderEnd> {
    try {
      await this.#start();
      this.#settle();
      await this.#transfer();
      await this.#update({ status: 'stopped', sentSequence: this.#committed,
        committedSequence: this.#committed }).catch(() => undefined);
      await this.#request('end', {}).catch(() => undefined);
      return { kind: 'stopped' };
    } catch (error) {
      const end = this.#classify(error);
      if ('error' in end) this.#settle(end.error);
      return end;
    } finally {
      this.#client?.close();
      await this.#session?.close();
    }
  }

  #classify(error: unknown): SenderEnd {
    const coded = error instanceof SanmqError ? error : new SanmqError('E_INTERNAL', String(error));
    if (this.#host.group.closed) return { kind: 'member', error: coded };
    switch (coded.code) {
      case 'E_CHANNEL_ACTIVE': return { kind: 'active', error: coded };
      case 'E_CHANNEL_STATUS': case 'E_IO': return { kind: 'status', error: coded };
      case 'E_CHANNEL_PROTOCOL': case 'E_NOT_AUTHORIZED': case 'E_UNKNOWN_CHANNEL':
      case 'E_PROTOCOL_VERSION':
        return { kind: 'protocol', error: coded };
      default: return { kind: 'comms', error: coded };
    }
  }

  async #start(): Promise<void> {
    const { group } = this.#host;
    const def = this.definition;
    const session = this.#session = await group.session();
    try {
      await session.open(def.transmissionQueue, 'exclusive');
    } catch (error) {
      if (isSanmqError(error, 'E_OBJECT_IN_USE')) {
        throw new SanmqError('E_CHANNEL_ACTIVE', `channel '${def.name}' runs already: its ` +
          `transmission queue '${def.transmissionQueue}' is locked by another instance`,
        { channel: def.name });
      }
      throw error;
    }
    await this.#transition((entry) => ({
      status: 'starting', instance: (entry?.instance ?? 0) + 1,
      retries: entry?.retries ?? 0,
    }));
    this.#instance = this.#read?.entry?.instance ?? 0;
    const { host, port } = parseConnection(def.connection);
    const client = this.#client = new ClientEndpoint(await dial({ host, port,
      connectTimeoutMs: 5_000 }), FRAME_BYTES_MAX);
    const reply = await this.#timed(client.hello({ versions: [...PROTOCOL_VERSIONS],
      role: 'channel', channel: def.name, type: 'sender', queueManager: this.#host.name }));
    const remote = reply['sequence'];
    const partner = reply['queueManager'];
    if (typeof remote !== 'number' || typeof partner !== 'string') {
      throw new SanmqError('E_CHANNEL_PROTOCOL', 'the receiver did not state its sequence number and name');
    }
    if (def.remoteQueueManager !== '' && partner !== def.remoteQueueManager) {
      throw new SanmqError('E_CHANNEL_PROTOCOL', `channel '${def.name}' reached ${partner}, ` +
        `not ${def.remoteQueueManager}`, { channel: def.name });
    }
    // Resynchronise: a batch left in doubt was delivered if the receiver committed it.
    for (const { xid } of await group.inDoubt()) {
      const sequence = batchOfXid(xid, def.name);
      if (sequence === undefined) continue;
      const outcome = sequence <= remote ? 'commit' : 'rollback';
      await group.resolve(xid, outcome);
      this.#host.onResolved?.(xid, outcome);
    }
    const local = await readSync(session, def.name, 'sender');
    if (local !== remote) {
      throw new SanmqError('E_CHANNEL_PROTOCOL', `channel '${def.name}': this end committed ` +
        `batch ${local}, the receiver batch ${remote}; reset the channel's sequence numbers`,
      { channel: def.name, local, remote });
    }
    this.#committed = local;
    await this.#update({ status: 'running', retries: 0, sentSequence: local,
      committedSequence: local, remoteQueueManager: partner });
  }

  async #transfer(): Promise<void> {
    const def = this.definition;
    const session = this.#session as GroupSession;
    const heartbeatMs = def.heartbeatSeconds * 1000;
    let idleSince = Date.now();
    while (!this.#stopping) {
      const first = await this.#wait(session, Math.min(WAIT_SLICE_MS, heartbeatMs || WAIT_SLICE_MS));
      if (first === undefined) {
        // Idle: the entry catches up with the batches it skipped.
        if (this.#read?.entry !== undefined && this.#read.entry.committedSequence !== this.#committed) {
          await this.#update({ sentSequence: this.#committed, committedSequence: this.#committed });
        }
        if (heartbeatMs > 0 && Date.now() - idleSince >= heartbeatMs) {
          await this.#request('heartbeat', {});
          idleSince = Date.now();
        }
        continue;
      }
      const batch = [first];
      // The rest of the batch, pipelined a few gets at a time, until the queue runs dry.
      while (batch.length < def.batchSize) {
        const got = await Promise.all(Array.from({ length: Math.min(GETS_IN_FLIGHT, def.batchSize - batch.length) },
          () => session.get(def.transmissionQueue, { waitMs: 0 })));
        for (const message of got) if (message !== undefined) batch.push(message);
        if (got.includes(undefined)) break;
      }
      await this.#send(session, batch);
      idleSince = Date.now();
    }
  }

  /** A get that waits, but returns early (undefined) when the instance is told to stop. */
  async #wait(session: GroupSession, waitMs: number): Promise<WireMessage | undefined> {
    const get = session.get(this.definition.transmissionQueue, { waitMs });
    const woken = new Promise<undefined>((resolve) => {
      this.#wake = () => resolve(undefined);
    });
    const message = await Promise.race([get, woken]);
    this.#wake = undefined;
    // A message that arrived as the stop did stays in the unit, which the stop backs out.
    return message;
  }

  async #send(session: GroupSession, batch: WireMessage[]): Promise<void> {
    const def = this.definition;
    const sequence = this.#committed + 1;
    await replaceSync(session, def.name, 'sender', sequence);
    const xid = batchXid(def.name, sequence);
    await session.prepare(xid);
    const reply = await this.#request('batch', { sequence, messages: batch.map(toChannel) });
    if (reply['sequence'] !== sequence) {
      throw new SanmqError('E_CHANNEL_PROTOCOL', `the receiver confirmed batch ${String(reply['sequence'])}, not ${sequence}`);
    }
    await this.#host.group.resolve(xid, 'commit');
    this.#committed = sequence;
    this.sent += batch.length;
    const now = Date.now();
    if (this.#statusAt === 0 || now - this.#statusAt >= STATUS_INTERVAL_MS) {
      this.#statusAt = now;
      await this.#update({ sentSequence: sequence, committedSequence: sequence });
    }
  }

  async #request(op: string, args: Args): Promise<Args> {
    const client = this.#client;
    if (client === undefined) throw new SanmqError('E_CHANNEL_FAILED', 'not connected');
    return await this.#timed(client.request(op, args)) as Args;
  }

  /** A receiver that does not answer within REPLY_TIMEOUT_MS is taken as a failed link. */
  async #timed<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#client?.close();
        reject(new SanmqError('E_CHANNEL_FAILED', `the receiver of channel '${this.definition.name}' ` +
          `did not answer within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
    });
    try {
      return await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Writes this instance's entry: the fields of the definition and ownership, then `change`. */
  async #transition(change: (entry: StatusEntry | undefined) => Partial<StatusEntry>): Promise<void> {
    const def = this.definition;
    this.#read = await this.#host.status.transition(def.statusSlot, (entry) => ({
      channel: def.name, type: 'sender', transmissionQueue: def.transmissionQueue,
      remoteQueueManager: def.remoteQueueManager, remoteAddress: def.connection,
      owner: this.#host.name, status: 'running', instance: entry?.instance ?? 0,
      retries: 0, sentSequence: entry?.sentSequence ?? 0,
      committedSequence: entry?.committedSequence ?? 0,
      ...change(entry),
    }));
    if (this.#read.entry !== undefined) this.#host.onStatus?.(this.#read.entry);
  }

  /**
   * Updates the entry this instance wrote. Its before-image is the last one it wrote: while
   * the instance holds the transmission queue nobody else may change it, so a stale image
   * means the table is not what this instance believes, and the instance ends.
   */
  async #update(change: Partial<StatusEntry>): Promise<void> {
    const before = this.#read;
    if (before?.entry === undefined) return this.#transition(() => change);
    const after = await this.#host.status.update(before, { ...before.entry, ...change });
    if (after === undefined) {
      throw new SanmqError('E_CHANNEL_STATUS', `the status entry of channel '${this.definition.name}' ` +
        'changed under its running instance', { channel: this.definition.name });
    }
    this.#read = after;
    if (after.entry !== undefined) this.#host.onStatus?.(after.entry);
  }
}

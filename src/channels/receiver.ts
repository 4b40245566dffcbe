/**
 * A receiver message channel agent: the inbound end of a channel, started by a remote
 * sender's hello. Only one inbound instance of a channel runs in the group: it holds the
 * group lock `group:channel:<name>` through the controller's lock manager for its life. Each
 * batch is put to its destination queues together with the channel's sync record in one unit
 * of work, committed before the batch is confirmed; a batch seen before (its sequence number
 * is not above the last committed) is confirmed without being put again.
 */
import { SanmqError, isSanmqError } from '../errors.js';
import { ServerEndpoint } from '../protocol/endpoint.js';
import { FRAME_BYTES_MAX, type Args } from '../protocol/frames.js';
import type { Transport } from '../protocol/transport.js';
import { checkVersion } from '../controller/members.js';
import { integer, text } from '../protocol/values.js';
import type { GroupClient, GroupSession } from './group.js';
import type { StatusEntry, StatusRead, StatusTable } from './status.js';
import { readSync, replaceSync } from './sync.js';
import { CHANNEL_OPS, fromChannel } from './wire.js';
import { STATUS_INTERVAL_MS } from './sender.js';

export interface ReceiverHost {
  readonly name: string;
  readonly group: GroupClient;
  readonly status: StatusTable;
  onStatus?(entry: StatusEntry): void;
  /** Told when an inbound instance starts and ends (the initiator counts them). */
  inbound(channel: string, running: boolean): void;
  /**
   * A pause before each batch's commit, or after it and before the confirmation, to hold the
   * sender's batch in doubt (fault injection for tests and demos).
   */
  pause?(phase: 'commit' | 'reply'): Promise<void>;
}

/** Messages one batch may carry. */
const BATCH_MESSAGES_MAX = 9999;

/** Serves one inbound channel connection. */
export function serveInbound(host: ReceiverHost, transport: Transport): ServerEndpoint {
  let agent: ReceiverAgent | undefined;
  let closed = false;
  const endpoint: ServerEndpoint = new ServerEndpoint(transport, {
    helloTimeoutMs: 10_000,
    hello: async (args, peer) => {
      const opened = await ReceiverAgent.open(host, args, peer);
      if (closed) {
        await opened.end();
        throw new SanmqError('E_CONNECTION_BROKEN', 'the sender went away');
      }
      agent = opened;
      return {
        result: { protocol: checkVersion(args), role: 'receiver', queueManager: host.name,
          sequence: opened.sequence, frameBytesMax: FRAME_BYTES_MAX, inFlightMax: 1 },
        handler: (op, request) => opened.handle(op, request),
        ops: CHANNEL_OPS,
        frameBytesMax: FRAME_BYTES_MAX,
        inFlightMax: 1,
      };
    },
  });
  endpoint.onClose(() => {
    closed = true;
    void agent?.end();
  });
  return endpoint;
}

class ReceiverAgent {
  readonly #host: ReceiverHost;
  readonly #session: GroupSession;
  readonly channel: string;
  #read: StatusRead;
  sequence: number;
  #ended = false;
  #statusAt = 0;
  /** Updates of the entry, one after another (a batch's and the trailing one). */
  #updates: Promise<void> = Promise.resolve();
  #trailing: NodeJS.Timeout | undefined;

  private constructor(host: ReceiverHost, session: GroupSession, channel: string, read: StatusRead,
    sequence: number) {
    this.#host = host;
    this.#session = session;
    this.channel = channel;
    this.#read = read;
    this.sequence = sequence;
  }

  static async open(host: ReceiverHost, args: Args, peer: string): Promise<ReceiverAgent> {
    checkVersion(args);
    if (args['role'] !== 'channel' || args['type'] !== 'sender') {
      throw new SanmqError('E_NOT_AUTHORIZED', "a channel listener serves role 'channel' of type 'sender'");
    }
    const name = text(args, 'channel');
    const from = text(args, 'queueManager');
    const def = await host.group.channel(name);
    if (def.type !== 'receiver') {
      throw new SanmqError('E_CHANNEL_PROTOCOL', `channel '${name}' is a ${def.type} here, not a receiver`);
    }
    if (def.remoteQueueManager !== '' && def.remoteQueueManager !== from) {
      throw new SanmqError('E_NOT_AUTHORIZED', `channel '${name}' takes batches from ` +
        `${def.remoteQueueManager}, not ${from}`);
    }
    const session = await host.group.session();
    try {
      try {
        await session.lock(`group:channel:${name}`);
      } catch (error) {
        if (!isSanmqError(error, 'E_OBJECT_IN_USE')) throw error;
        throw new SanmqError('E_CHANNEL_ACTIVE', `an inbound instance of channel '${name}' runs already`,
          { channel: name });
      }
      const sequence = await readSync(session, name, 'receiver');
      const read = await host.status.transition(def.statusSlot, (entry) => ({
        channel: name, type: 'receiver', transmissionQueue: '', remoteQueueManager: from,
        owner: host.name, status: 'running', remoteAddress: peer,
        instance: (entry?.instance ?? 0) + 1, retries: 0, sentSequence: sequence,
        committedSequence: sequence,
      }));
      if (read.entry !== undefined) host.onStatus?.(read.entry);
      host.inbound(name, true);
      return new ReceiverAgent(host, session, name, read, sequence);
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  async handle(op: string, args: Args): Promise<Args> {
    switch (op) {
      case 'heartbeat': return {};
      case 'end':
        await this.#update({ status: 'inactive', sentSequence: this.sequence,
          committedSequence: this.sequence });
        return {};
      default: return this.#batch(args);
    }
  }

  async #batch(args: Args): Promise<Args> {
    const sequence = integer(args, 'sequence');
    const messages = args['messages'];
    if (!Array.isArray(messages) || messages.length === 0 || messages.length > BATCH_MESSAGES_MAX) {
      throw new SanmqError('E_CHANNEL_PROTOCOL', `a batch holds 1 to ${BATCH_MESSAGES_MAX} messages`);
    }
    if (sequence <= this.sequence) return { sequence, duplicate: true };
    if (sequence !== this.sequence + 1) {
      throw new SanmqError('E_CHANNEL_PROTOCOL', `channel '${this.channel}': batch ${sequence} ` +
        `follows batch ${this.sequence}; expected ${this.sequence + 1}`,
      { channel: this.channel, expected: this.sequence + 1, got: sequence });
    }
    const session = this.#session;
    try {
      await Promise.all(messages.map((wire) => {
        const { queue, message } = fromChannel(wire);
        return session.put(queue, message, true);
      }));
      await replaceSync(session, this.channel, 'receiver', sequence);
      await this.#host.pause?.('commit');
      await session.commit();
    } catch (error) {
      await session.backout().catch(() => undefined);
      throw error;
    }
    this.sequence = sequence;
    await this.#host.pause?.('reply');
    const now = Date.now();
    if (this.#statusAt === 0 || now - this.#statusAt >= STATUS_INTERVAL_MS) {
      this.#statusAt = now;
      await this.#update({ sentSequence: sequence, committedSequence: sequence });
    } else {
      // The entry catches up after a while if no batch comes to update it.
      this.#trailing ??= setTimeout(() => {
        this.#trailing = undefined;
        if (this.#ended || this.#read.entry?.committedSequence === this.sequence) return;
        this.#statusAt = Date.now();
        void this.#update({ sentSequence: this.sequence, committedSequence: this.sequence })
          .catch(() => undefined);
      }, STATUS_INTERVAL_MS);
    }
    return { sequence };
  }

  #update(change: Partial<StatusEntry>): Promise<void> {
    const run = this.#updates.then(() => this.#swap(change));
    this.#updates = run.catch(() => undefined);
    return run;
  }

  async #swap(change: Partial<StatusEntry>): Promise<void> {
    const entry = this.#read.entry as StatusEntry;
    const after = await this.#host.status.update(this.#read, { ...entry, ...change });
    if (after === undefined) {
      throw new SanmqError('E_CHANNEL_STATUS', `the status entry of channel '${this.channel}' ` +
        'changed under its running instance', { channel: this.channel });
    }
    this.#read = after;
    if (after.entry !== undefined) this.#host.onStatus?.(after.entry);
  }

  /** The sender went away: the instance ends, its lock with its session. */
  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#trailing);
    if (this.#read.entry?.status === 'running') {
      await this.#update({ status: 'inactive', sentSequence: this.sequence,
        committedSequence: this.sequence }).catch(() => undefined);
    }
    await this.#session.close();
    this.#host.inbound(this.channel, false);
  }
}

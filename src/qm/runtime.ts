/**
 * A queue manager at work: a client of the controller on one side (one protocol connection,
 * one controller session per application connection), a server of applications on the other
 * (over MessagePorts from `qm.connect()` and over TCP from its listener). It runs in a worker
 * thread started by `controller.startQueueManager`, or in any process that can reach the
 * controller's listener. Application requests are forwarded in the order they arrive, so a
 * pipelined put and commit reach the controller as they were sent.
 */
import { Errors, SanmqError } from '../errors.js';
import { ClientEndpoint, ServerEndpoint, type Accepted } from '../protocol/endpoint.js';
import {
  FRAME_BYTES_MAX,
  IN_FLIGHT_MAX,
  PROTOCOL_VERSIONS,
  type Args,
} from '../protocol/frames.js';
import { messageFromWire, putResultFromWire } from '../protocol/messages.js';
import type { Transport } from '../protocol/transport.js';
import { checkVersion, secretMatches } from '../controller/members.js';
import type { Personality, QueueManagerSettings } from './personality.js';
import { GroupClient } from '../channels/group.js';
import { recoverInitiator } from '../channels/initiator.js';

export const APPLICATION_OPS = new Set(['put', 'get', 'browse.open', 'browse.next',
  'browse.close', 'commit', 'backout', 'prepare', 'open', 'close', 'inquire']);
/** Operations passed to the controller as they are, with the connection's session added. */
const FORWARDED = new Set(['browse.close', 'commit', 'backout', 'prepare', 'open', 'close']);

export interface RuntimeOptions {
  settings: QueueManagerSettings;
  personality: Personality;
  /** Application connections served at once. */
  connectionsMax: number;
}

export class QueueManagerRuntime {
  readonly settings: QueueManagerSettings;
  readonly #personality: Personality;
  readonly #controller: ClientEndpoint;
  readonly #connectionsMax: number;
  readonly #applications = new Set<ServerEndpoint>();
  #frameBytesMax = FRAME_BYTES_MAX;
  /** Told of the controller's events (other members joining and ending). */
  onEvent: (name: string, data: Args) => void = () => undefined;

  constructor(controller: Transport, options: RuntimeOptions) {
    this.settings = options.settings;
    this.#personality = options.personality;
    this.#connectionsMax = options.connectionsMax;
    this.#controller = new ClientEndpoint(controller, FRAME_BYTES_MAX * 4);
    this.#controller.onEvent((name, data) => {
      if (name === 'member-ended' && data['role'] === 'channel-initiator' &&
          data['name'] === this.settings.name) {
        // Failure scenario 3: this queue manager recovers the channels of its initiator.
        void recoverInitiator(new GroupClient(this.#controller, this.settings.name), this.settings.name)
          .then((moved) => this.onEvent('channels-recovered', { channels: moved }))
          .catch(() => undefined);
      }
      this.onEvent(name, data);
    });
  }

  /** Says hello to the controller; resolves with its reply. */
  async start(secret?: string): Promise<Args> {
    const reply = await this.#controller.hello({ versions: [...PROTOCOL_VERSIONS],
      role: 'queue-manager', name: this.settings.name, personality: this.#personality.name,
      ...(secret === undefined ? {} : { secret }) });
    this.#frameBytesMax = reply['frameBytesMax'] as number;
    return reply;
  }

  /** Calls `listener` when the connection to the controller ends. */
  onControllerClosed(listener: (reason: SanmqError | undefined) => void): void {
    this.#controller.onClose(listener);
  }

  get applications(): number {
    return this.#applications.size;
  }

  /** Serves one application connection. */
  serve(transport: Transport, secret?: string): void {
    let session: Promise<number> | undefined;
    const endpoint: ServerEndpoint = new ServerEndpoint(transport, {
      helloTimeoutMs: 10_000,
      hello: async (args) => {
        const accepted = this.#hello(args, secret);
        session = this.#openSession();
        const handler = accepted.handler;
        const id = await session;
        accepted.handler = (op, request) => {
          // Whatever session the application named, its own is the one that counts.
          request['session'] = id;
          return handler(op, request);
        };
        return accepted;
      },
    });
    this.#applications.add(endpoint);
    endpoint.onClose(() => {
      this.#applications.delete(endpoint);
      // The controller backs out the connection's unit of work when its session closes.
      session?.then((id) => this.#controller.request('session.close', { session: id }))
        .catch(() => undefined);
    });
  }

  async #openSession(): Promise<number> {
    const reply = await this.#controller.request('session.open', {}) as Args;
    return reply['session'] as number;
  }

  #hello(args: Args, secret: string | undefined): Accepted {
    const protocol = checkVersion(args);
    if (secret !== undefined && !secretMatches(args['secret'], secret)) {
      throw new SanmqError('E_NOT_AUTHORIZED', 'the hello did not carry the shared secret');
    }
    if (args['role'] !== undefined && args['role'] !== 'application') {
      throw new SanmqError('E_NOT_AUTHORIZED', "a queue manager serves role 'application'");
    }
    if (this.#applications.size > this.#connectionsMax) {
      throw new SanmqError('E_BUSY', `queue manager ${this.settings.name} serves ` +
        `${this.#connectionsMax} connections already`);
    }
    if (this.#controller.isClosed) {
      throw new SanmqError('E_QM_NOT_AVAILABLE', `queue manager ${this.settings.name} has lost its controller`);
    }
    const connection = this.#personality.connect(args, this.settings);
    return {
      result: { protocol, role: 'queue-manager', name: this.settings.name,
        personality: this.#personality.name, frameBytesMax: this.#frameBytesMax,
        inFlightMax: IN_FLIGHT_MAX, ...connection.hello },
      handler: (op, request) => this.#request(connection, op, request),
      ops: APPLICATION_OPS,
      frameBytesMax: this.#frameBytesMax,
      inFlightMax: IN_FLIGHT_MAX,
    };
  }

  /** Application requests served since the start (reported as a metric). */
  requests = 0;

  #request(connection: ReturnType<Personality['connect']>, op: string, args: Args): unknown {
    this.requests++;
    const session = args['session'];
    if (FORWARDED.has(op)) return this.#controller.request(op, args);
    switch (op) {
      case 'put': {
        const put = connection.put(args);
        return this.#controller.request('put', { session, queue: put.queue,
          message: put.message, syncpoint: put.syncpoint })
          .then((reply) => connection.putResult(putResultFromWire(reply), put, args));
      }
      case 'get':
        return this.#controller.request('get', { ...connection.select(args), session,
          queue: args['queue'], syncpoint: args['syncpoint'] ?? false, waitMs: args['waitMs'] ?? 0 })
          .then((reply) => connection.gotten(messageFromWire(reply), args));
      case 'browse.open':
        return this.#controller.request('browse.open', { ...connection.select(args), session,
          queue: args['queue'] });
      case 'browse.next':
        return this.#controller.request('browse.next', { session, cursor: args['cursor'],
          first: args['first'] ?? false })
          .then((reply) => connection.gotten(messageFromWire(reply), args));
      case 'inquire':
        return this.#controller.request('inquire', { queue: args['queue'] });
      default:
        throw Errors.internal(`operation ${op} has no handler`);
    }
  }

  /**
   * Closes every application connection, then says goodbye to the controller (an orderly
   * stop, not a failure) and closes that connection: the goodbye leaves first.
   */
  close(): void {
    for (const endpoint of [...this.#applications]) endpoint.close();
    if (!this.#controller.isClosed) {
      this.#controller.request('goodbye', {}).catch(() => undefined);
      this.#controller.close();
    }
  }
}

/**
 * A queue manager in a worker thread, seen from the thread that started it: start it, connect
 * applications to it, stop it, terminate it, restart it. It is a member of its controller
 * through the protocol, over a MessagePort whose buffers are transferred; it dies alone (its
 * thread crashes or is terminated) without taking the controller or the other members with
 * it, and the controller backs out its work. Events: 'ended' (the thread is gone: code and
 * reason), 'member-joined' and 'member-ended' (other members, as the controller tells them).
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort, type ResourceLimits } from 'node:worker_threads';

import { NAME_PATTERN } from '../controller/attributes.js';
import { Errors, SanmqError } from '../errors.js';
import { CONNECTIONS_MAX } from '../protocol/frames.js';
import { listenOptions, type ListenOptions } from '../protocol/listener.js';
import { PortMux } from '../protocol/mux.js';
import { PortTransport, type Transport } from '../protocol/transport.js';
import { openConnection, type ConnectOptions, type JmsConnection,
  type MqConnection } from './client.js';
import { checkCodes } from './mq/personality.js';
import { MQENC_NATIVE_BIG, MQENC_NATIVE_LITTLE } from './mq/mqmd.js';
import { PERSONALITY_NAMES } from './personalities.js';
import { awaitReady, stopWorker, terminateWorker, workerEntry, workerExecArgv } from './threads.js';
import { ChannelInitiatorHandle, type ChannelInitiatorOptions,
  type InitiatorHost } from '../channels/handle.js';
import type { FromWorker, ToWorker, WorkerData } from './worker.js';

export interface QueueManagerOptions {
  /** 1 to 48 characters: A-Z a-z 0-9 . _ % / (IBM MQ's rules). */
  name: string;
  personality: 'mq' | 'jms';
  /** mq: the queue manager's coded character set (default 1208, UTF-8). */
  ccsid?: number;
  /** mq: the byte order of its integers (default little). */
  encoding?: 'big' | 'little';
  /** Also serve applications over TCP (127.0.0.1 unless told otherwise). */
  listen?: ListenOptions;
  /** Application connections served at once (1 to 1024, the default). */
  connectionsMax?: number;
  /**
   * Node options of the worker thread (default: this process's, without `--input-type`, which
   * Node refuses for a worker's file).
   */
  execArgv?: string[];
  /** The worker thread's V8 heap limits. */
  resourceLimits?: ResourceLimits;
  /** The worker's script: the compiled worker.js beside this file unless given. */
  entry?: string | URL;
  /** Longest wait for the worker to be ready (default 30 s). */
  startTimeoutMs?: number;
  /**
   * Run a channel initiator paired with this queue manager, in a worker of its own (true, or
   * its options: where it accepts inbound channels). It stops and ends with its queue manager.
   */
  channels?: boolean | ChannelInitiatorOptions;
}

/** What a queue manager needs of its controller: a member connection. */
export interface MemberHost extends InitiatorHost {
  attachMember(transport: Transport): void;
  /** Defines the group's channel queues (sync queue, initiation queue) when missing. */
  defineChannelQueues(): Promise<void>;
}


function checkOptions(options: QueueManagerOptions): WorkerData['settings'] & {
  personality: string; connectionsMax: number; startTimeoutMs: number; } {
  if (typeof options !== 'object' || options === null) {
    throw Errors.invalidArgument('queue manager options must be an object');
  }
  if (typeof options.name !== 'string' || !NAME_PATTERN.test(options.name)) {
    throw Errors.invalidArgument('name must be 1 to 48 characters of A-Z a-z 0-9 . _ % /');
  }
  if (!PERSONALITY_NAMES.includes(options.personality)) {
    throw Errors.invalidArgument(`personality must be one of ${PERSONALITY_NAMES.join(', ')}`);
  }
  if (options.encoding !== undefined && options.encoding !== 'big' && options.encoding !== 'little') {
    throw Errors.invalidArgument("encoding must be 'big' or 'little'");
  }
  const encoding = options.encoding === 'big' ? MQENC_NATIVE_BIG : MQENC_NATIVE_LITTLE;
  const ccsid = options.ccsid ?? 1208;
  if (options.personality === 'jms' && ccsid !== 1208) {
    throw Errors.invalidArgument('a jms queue manager works in CCSID 1208 (UTF-8)');
  }
  checkCodes(ccsid, encoding, 'the queue manager\'s');
  if (options.listen !== undefined) listenOptions(options.listen);
  const connectionsMax = options.connectionsMax ?? 1024;
  if (!Number.isInteger(connectionsMax) || connectionsMax < 1 || connectionsMax > CONNECTIONS_MAX) {
    throw Errors.invalidArgument(`connectionsMax must be an integer from 1 to ${CONNECTIONS_MAX}`);
  }
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  if (!Number.isInteger(startTimeoutMs) || startTimeoutMs < 1) {
    throw Errors.invalidArgument('startTimeoutMs must be a positive integer');
  }
  return { name: options.name, ccsid, encoding, personality: options.personality,
    connectionsMax, startTimeoutMs };
}

export class QueueManager extends EventEmitter {
  readonly name: string;
  readonly personality: string;
  readonly #host: MemberHost;
  readonly #options: QueueManagerOptions;
  #worker: Worker | undefined;
  #controllerPort: MessagePort | undefined;
  /** The port this thread's application connections share, once one is made. */
  #mux: PortMux | undefined;
  #listener: { host: string; port: number } | undefined;
  #exited: Promise<number> = Promise.resolve(0);
  #initiator: ChannelInitiatorHandle | undefined;

  private constructor(host: MemberHost, options: QueueManagerOptions) {
    super();
    this.#host = host;
    this.#options = options;
    this.name = options.name;
    this.personality = options.personality;
  }

  /** Starts a queue manager; resolves once it is a member of the controller. */
  static async start(host: MemberHost, options: QueueManagerOptions): Promise<QueueManager> {
    checkOptions(options);
    const manager = new QueueManager(host, options);
    await manager.#start();
    return manager;
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** The TCP listener's address, when it has one. */
  get address(): { host: string; port: number } | undefined {
    return this.#listener;
  }

  /** Its channel initiator, when it was started with `channels`. */
  get channelInitiator(): ChannelInitiatorHandle | undefined {
    return this.#initiator;
  }

  /** The worker thread's id, while it runs. */
  get threadId(): number | undefined {
    return this.#worker?.threadId;
  }

  async #start(): Promise<void> {
    if (this.#worker !== undefined) throw Errors.objectInUse(`queue manager ${this.name} is running`);
    const checked = checkOptions(this.#options);
    const channel = new MessageChannel();
    const data: WorkerData = {
      settings: { name: checked.name, ccsid: checked.ccsid, encoding: checked.encoding },
      personality: checked.personality, connectionsMax: checked.connectionsMax,
      controller: channel.port2, listen: this.#options.listen,
    };
    this.#controllerPort = channel.port1;
    this.#host.attachMember(new PortTransport(channel.port1, `queue manager ${this.name}`));
    const worker = new Worker(this.#options.entry ?? workerEntry(import.meta.url, 'worker'), {
      workerData: data, transferList: [channel.port2],
      ...workerExecArgv(this.#options.execArgv),
      ...(this.#options.resourceLimits === undefined ? {}
        : { resourceLimits: this.#options.resourceLimits }),
    });
    this.#worker = worker;
    this.#exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'event') this.emit(message.name, message.data);
    });
    let failure: Error | undefined;
    worker.on('error', (error) => {
      failure = error;
    });
    worker.once('exit', (code) => this.#ended(worker, code, failure));
    const ready = await awaitReady<{ listener: { host: string; port: number } | undefined }>(
      worker, checked.startTimeoutMs, `queue manager ${this.name}`);
    this.#listener = ready.listener;
    const channels = this.#options.channels;
    if (channels !== undefined && channels !== false) {
      await this.#host.defineChannelQueues();
      this.#initiator ??= new ChannelInitiatorHandle(this.#host, this.name,
        channels === true ? { ...(this.#options.execArgv === undefined ? {}
          : { execArgv: this.#options.execArgv }) } : channels);
      // After a failure its initiator may still be on its way out: a new one starts after.
      await this.#initiator.terminate();
      await this.#initiator.start();
    }
  }

  #ended(worker: Worker, code: number, failure: Error | undefined): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    this.#listener = undefined;
    // Our ends of its ports: closing them tells the controller and the applications now.
    this.#controllerPort?.close();
    this.#mux?.close();
    this.#mux = undefined;
    // A channel initiator does not outlive its queue manager (its peers then recover).
    void this.#initiator?.terminate();
    this.emit('ended', { name: this.name, exitCode: code,
      reason: failure === undefined ? 'exited' : failure.message });
    this.emit('stopped');
  }

  /**
   * A new application connection to this queue manager: a conversation of its own (hello,
   * limits, unit of work) on the port this thread's connections share.
   */
  async connect(options: ConnectOptions = {}): Promise<MqConnection | JmsConnection> {
    const worker = this.#worker;
    if (worker === undefined) {
      throw new SanmqError('E_QM_NOT_AVAILABLE', `queue manager ${this.name} is not running`);
    }
    if (this.#mux === undefined) {
      const channel = new MessageChannel();
      const message: ToWorker = { type: 'connections', port: channel.port2 };
      worker.postMessage(message, [channel.port2]);
      this.#mux = new PortMux(channel.port1, `queue manager ${this.name}`);
    }
    return openConnection(this.#mux.open(), options);
  }

  /**
   * Stops in order: application connections close (their units of work back out at the
   * controller), the member connection closes, the thread ends.
   */
  async stop(): Promise<void> {
    await this.#initiator?.stop();
    const worker = this.#worker;
    const message: ToWorker = { type: 'stop' };
    await stopWorker(worker, this.#exited, () => worker?.postMessage(message));
  }

  /** Ends the thread at once, as a crash would: the controller backs out its work. */
  terminate(): Promise<number> {
    return terminateWorker(this.#worker, this.#exited);
  }

  /** Starts the queue manager again after it ended. */
  async restart(): Promise<void> {
    if (this.#worker !== undefined) throw Errors.objectInUse(`queue manager ${this.name} is running`);
    await this.#start();
  }
}

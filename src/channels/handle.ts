/**
 * A channel initiator in its worker thread, seen from the thread that started it (the queue
 * manager it is paired with starts it): start, stop, terminate (a crash, for failure scenario
 * 3), restart, and operator requests. Events: 'ended' (the thread is gone), 'status' (an entry
 * it wrote in the shared status table), and what the initiator does ('ended', 'retry',
 * 'recover', 'triggered', 'start-failed'), each with the initiator's data.
 */
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';

import { SanmqError } from '../errors.js';
import type { ListenOptions } from '../protocol/listener.js';
import { PortTransport, type Transport } from '../protocol/transport.js';
import { awaitReady, stopWorker, terminateWorker, workerEntry, workerExecArgv } from '../qm/threads.js';
import type { FromInitiator, InitiatorWorkerData, ToInitiator } from './worker.js';

export interface ChannelInitiatorOptions {
  /** Where it accepts inbound channels (default 127.0.0.1, a free port). */
  listen?: ListenOptions;
  execArgv?: string[];
  /** The worker's script: the compiled worker.js beside this file unless given. */
  entry?: string | URL;
  startTimeoutMs?: number;
}

export interface InitiatorHost {
  attachMember(transport: Transport): void;
}

export class ChannelInitiatorHandle extends EventEmitter {
  readonly name: string;
  readonly #host: InitiatorHost;
  readonly #options: ChannelInitiatorOptions;
  #worker: Worker | undefined;
  #port: MessagePort | undefined;
  #address: { host: string; port: number } | undefined;
  #exited: Promise<number> = Promise.resolve(0);
  #nextId = 1;
  readonly #pending = new Map<number, (message: FromInitiator & { type: 'done' }) => void>();

  constructor(host: InitiatorHost, name: string, options: ChannelInitiatorOptions = {}) {
    super();
    this.#host = host;
    this.name = name;
    this.#options = options;
  }

  get running(): boolean {
    return this.#worker !== undefined;
  }

  /** Its inbound listener, while it runs. */
  get address(): { host: string; port: number } | undefined {
    return this.#address;
  }

  async start(): Promise<void> {
    if (this.#worker !== undefined) {
      throw new SanmqError('E_OBJECT_IN_USE', `the channel initiator of ${this.name} is running`);
    }
    const channel = new MessageChannel();
    const data: InitiatorWorkerData = { name: this.name, controller: channel.port2,
      listen: this.#options.listen };
    this.#port = channel.port1;
    this.#host.attachMember(new PortTransport(channel.port1, `channel initiator ${this.name}`));
    const worker = new Worker(this.#options.entry ?? workerEntry(import.meta.url, 'worker'), {
      workerData: data, transferList: [channel.port2], ...workerExecArgv(this.#options.execArgv),
    });
    this.#worker = worker;
    this.#exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    worker.on('message', (message: FromInitiator) => {
      if (message.type === 'event') this.emit(message.name, message.data);
      else if (message.type === 'done') {
        this.#pending.get(message.id)?.(message);
        this.#pending.delete(message.id);
      }
    });
    worker.on('error', () => undefined);
    worker.once('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      this.#address = undefined;
      this.#port?.close();
      for (const resolve of this.#pending.values()) {
        resolve({ type: 'done', id: 0, code: 'E_QM_NOT_AVAILABLE', message: 'the channel initiator ended' });
      }
      this.#pending.clear();
      this.emit('exit', { name: this.name, exitCode: code });
    });
    const ready = await awaitReady<{ listener: { host: string; port: number } }>(worker,
      this.#options.startTimeoutMs ?? 30_000, `the channel initiator of ${this.name}`);
    this.#address = ready.listener;
  }

  #post(message: ToInitiator): void {
    const worker = this.#worker;
    if (worker === undefined) {
      throw new SanmqError('E_QM_NOT_AVAILABLE', `the channel initiator of ${this.name} is not running`);
    }
    worker.postMessage(message);
  }

  async #ask(message: { type: 'start-channel' | 'stop-channel'; channel: string }): Promise<void> {
    const id = this.#nextId++;
    const done = new Promise<FromInitiator & { type: 'done' }>((resolve) => this.#pending.set(id, resolve));
    this.#post({ ...message, id });
    const reply = await done;
    if (reply.code !== undefined) throw new SanmqError(reply.code as 'E_INTERNAL', reply.message ?? '');
  }

  /** Starts an instance of a sender channel on this initiator. */
  startChannel(channel: string): Promise<void> {
    return this.#ask({ type: 'start-channel', channel });
  }

  /** Stops the instance of a channel running on this initiator. */
  stopChannel(channel: string): Promise<void> {
    return this.#ask({ type: 'stop-channel', channel });
  }

  /** Failure scenario 1 on demand: the next `count` status-table updates here fail. */
  failStatusUpdates(count: number): void {
    this.#post({ type: 'fail-status-updates', count });
  }

  /**
   * Inbound batches here pause `ms` before they commit, or after it and before they are
   * confirmed (`phase`), holding the sender's batch in doubt; 0 ends the pauses at once.
   */
  delayBatches(ms: number, phase: 'commit' | 'reply' = 'commit'): void {
    this.#post({ type: 'delay-batches', ms, phase });
  }

  /** Stops its channels and ends the thread. */
  stop(): Promise<void> {
    return stopWorker(this.#worker, this.#exited, () => this.#post({ type: 'stop' }));
  }

  /** Ends the thread at once, as a crash would. */
  terminate(): Promise<number> {
    return terminateWorker(this.#worker, this.#exited);
  }
}

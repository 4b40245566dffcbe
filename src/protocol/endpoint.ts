/**
 * The two ends of a protocol connection. A server end (the controller for its queue managers,
 * a queue manager for its applications) takes a hello first, then requests, and answers each
 * with a reply or an error; it runs requests in the order they arrive, many at a time
 * (pipelining), up to the in-flight limit it announced. A client end numbers its requests,
 * matches answers to them and holds back requests beyond that limit. Frames going out in the
 * same turn of the event loop leave together, as one batch. Whatever breaks the protocol gets
 * an E_BAD_FRAME error and the connection closes; nothing the other end sends can throw here.
 */
import { Errors, SanmqError } from '../errors.js';
import {
  badFrame,
  FrameReader,
  fromWire,
  HELLO_FRAME_BYTES_MAX,
  KIND_ERROR,
  KIND_EVENT,
  KIND_REPLY,
  KIND_REQUEST,
  MEMBER_IN_FLIGHT_MAX,
  packFrame,
  toWire,
  unpackFrame,
  type Args,
  type Frame,
} from './frames.js';
import type { Transport } from './transport.js';

/** What closed a connection: undefined for an orderly close. */
export type CloseReason = SanmqError | undefined;

abstract class Endpoint {
  protected readonly transport: Transport;
  readonly #reader: FrameReader;
  #closed = false;
  #closeListeners: ((reason: CloseReason) => void)[] = [];
  /** Largest frame this end sends (the other end's limit, once known). */
  sendBytesMax: number;

  constructor(transport: Transport, receiveBytesMax: number, sendBytesMax: number) {
    this.transport = transport;
    this.#reader = new FrameReader(receiveBytesMax);
    this.sendBytesMax = sendBytesMax;
    transport.onData((chunk) => this.#data(chunk));
    transport.onClose((error) => this.closed(error === undefined ? undefined
      : new SanmqError('E_CONNECTION_BROKEN', `connection to ${transport.peer}: ${error.message}`)));
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get peer(): string {
    return this.transport.peer;
  }

  protected set receiveBytesMax(bytes: number) {
    this.#reader.frameBytesMax = bytes;
  }

  onClose(listener: (reason: CloseReason) => void): void {
    if (this.#closed) queueMicrotask(() => listener(undefined));
    else this.#closeListeners.push(listener);
  }

  #data(chunk: Uint8Array | undefined): void {
    if (this.#closed) return;
    try {
      if (chunk === undefined) throw badFrame('a port message is not a buffer of frames');
      this.#reader.push(chunk, (body) => {
        if (!this.#closed) this.frame(unpackFrame(body));
      });
    } catch (error) {
      const coded = error instanceof SanmqError ? error : Errors.internal(String(error));
      // The error answers the request that broke the rules when it is known.
      const id = coded.details['id'];
      this.fail(coded, typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : 0);
    }
  }

  /** Handles one well-formed frame; throws E_BAD_FRAME when it breaks the protocol. */
  protected abstract frame(frame: Frame): void;

  protected send(frame: Frame): void {
    if (this.#closed) return;
    let body = packFrame(frame);
    if (body.length > this.sendBytesMax) {
      if (frame.kind !== KIND_REPLY) {
        throw Errors.invalidArgument(`a frame of ${body.length} bytes exceeds the connection's ` +
          `limit of ${this.sendBytesMax}`);
      }
      body = packFrame({ kind: KIND_ERROR, id: frame.id, error: toWire(badFrame(
        `the reply of ${body.length} bytes exceeds the frame limit of ${this.sendBytesMax}`)) });
    }
    this.transport.frame(body);
  }

  /** Breaks the connection: the error goes out (id 0: about the connection), then it closes. */
  protected fail(error: SanmqError, id = 0): void {
    if (this.#closed) return;
    this.send({ kind: KIND_ERROR, id, error: toWire(error) });
    this.transport.end();
    this.closed(error);
  }

  /** Closes in order: what is queued goes out first. */
  close(): void {
    if (this.#closed) return;
    this.transport.end();
    this.closed(undefined);
  }

  /** Drops the connection without sending anything more. */
  destroy(): void {
    this.transport.destroy();
    this.closed(undefined);
  }

  protected closed(reason: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const listener of this.#closeListeners) listener(reason);
    this.#closeListeners = [];
  }
}

/** Runs one request; its result is the reply (MessagePack-able), a thrown SanmqError the error. */
export type Handler = (op: string, args: Args) => unknown;

export interface Accepted {
  /** The hello reply. */
  result: Args;
  /** Serves the requests after the hello. */
  handler: Handler;
  /** Operations the handler knows; any other is a protocol violation. */
  ops: ReadonlySet<string>;
  frameBytesMax: number;
  inFlightMax: number;
}

export interface ServerOptions {
  /** Checks a hello's arguments and accepts the connection, or throws to refuse it. */
  hello: (args: Args, peer: string) => Promise<Accepted> | Accepted;
  /** Time the other end has to say hello (TCP: strangers do not hold sockets open). */
  helloTimeoutMs: number;
}

export class ServerEndpoint extends Endpoint {
  readonly #options: ServerOptions;
  #state: 'hello' | 'accepting' | 'ready' = 'hello';
  #accepted: Accepted | undefined;
  #lastId = 0;
  #inFlight = 0;
  readonly #helloTimer: NodeJS.Timeout;

  constructor(transport: Transport, options: ServerOptions) {
    super(transport, HELLO_FRAME_BYTES_MAX, HELLO_FRAME_BYTES_MAX);
    this.#options = options;
    this.#helloTimer = setTimeout(() => this.fail(badFrame(
      `no hello within ${options.helloTimeoutMs} ms`)), options.helloTimeoutMs);
    this.#helloTimer.unref();
    this.onClose(() => clearTimeout(this.#helloTimer));
  }

  /** Sends an event to the client (the controller tells its members of each other). */
  event(name: string, data: Args): void {
    if (this.#state === 'ready') this.send({ kind: KIND_EVENT, name, data });
  }

  protected frame(frame: Frame): void {
    if (frame.kind !== KIND_REQUEST) throw badFrame('a client sends only requests');
    if (frame.id <= this.#lastId) {
      throw badFrame(`request id ${frame.id} is not above the last one (${this.#lastId})`,
        { id: frame.id });
    }
    this.#lastId = frame.id;
    if (this.#state !== 'ready') {
      if (this.#state === 'accepting') throw badFrame('a request came before the hello was answered');
      if (frame.op !== 'hello') throw badFrame(`the first request must be hello, not ${frame.op}`);
      this.#hello(frame.id, frame.args);
      return;
    }
    const accepted = this.#accepted as Accepted;
    if (frame.op === 'hello') throw badFrame('hello was said already', { id: frame.id });
    if (!accepted.ops.has(frame.op)) {
      throw badFrame(`unknown operation '${frame.op}'`, { id: frame.id });
    }
    if (this.#inFlight >= accepted.inFlightMax) {
      throw badFrame(`more than ${accepted.inFlightMax} requests in flight`, { id: frame.id });
    }
    this.#inFlight++;
    let result: unknown;
    try {
      result = accepted.handler(frame.op, frame.args);
    } catch (error) {
      this.#answer(frame.id, error, true);
      return;
    }
    if (result instanceof Promise) {
      result.then((value) => this.#answer(frame.id, value, false),
        (error: unknown) => this.#answer(frame.id, error, true));
    } else {
      this.#answer(frame.id, result, false);
    }
  }

  #answer(id: number, value: unknown, failed: boolean): void {
    this.#inFlight--;
    if (failed) this.send({ kind: KIND_ERROR, id, error: toWire(value) });
    else this.send({ kind: KIND_REPLY, id, result: value ?? null });
  }

  #hello(id: number, args: Args): void {
    this.#state = 'accepting';
    const refuse = (error: unknown): void => this.fail(error instanceof SanmqError ? error
      : Errors.internal(String(error)), id);
    let accepted: Promise<Accepted> | Accepted;
    try {
      accepted = this.#options.hello(args, this.peer);
    } catch (error) {
      refuse(error);
      return;
    }
    Promise.resolve(accepted).then((value) => {
      if (this.isClosed) return;
      clearTimeout(this.#helloTimer);
      this.#accepted = value;
      this.receiveBytesMax = value.frameBytesMax;
      this.sendBytesMax = value.frameBytesMax;
      this.#state = 'ready';
      this.send({ kind: KIND_REPLY, id, result: value.result });
    }, refuse);
  }
}

/** Requests a client holds back, beyond the server's in-flight limit, before refusing more. */
export const BACKLOG_MAX = 65_536;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: SanmqError) => void;
}

interface Backlogged {
  op: string;
  args: Args;
  pending: Pending;
}

export class ClientEndpoint extends Endpoint {
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #backlog: Backlogged[] = [];
  #inFlightMax = 1;
  /** Requests other than the hello wait in the backlog until the hello is answered. */
  #ready = false;
  #eventListener: ((name: string, data: Args) => void) | undefined;
  #brokenBy: SanmqError | undefined;

  constructor(transport: Transport, frameBytesMax: number) {
    super(transport, frameBytesMax, HELLO_FRAME_BYTES_MAX);
    this.onClose((reason) => {
      const error = this.#brokenBy ?? reason ?? new SanmqError('E_CONNECTION_BROKEN',
        `the connection to ${this.peer} is closed`);
      const pending = [...this.#pending.values(), ...this.#backlog.map((b) => b.pending)];
      this.#pending.clear();
      this.#backlog = [];
      for (const p of pending) p.reject(brokenWith(error));
    });
  }

  /** Says hello; the reply's frameBytesMax and inFlightMax then govern the connection. */
  async hello(args: Args): Promise<Args> {
    const reply = await this.request('hello', args);
    if (typeof reply !== 'object' || reply === null) throw badFrame('the hello reply is not a map');
    const result = reply as Args;
    const frameBytesMax = result['frameBytesMax'];
    const inFlightMax = result['inFlightMax'];
    if (typeof frameBytesMax !== 'number' || typeof inFlightMax !== 'number' || inFlightMax < 1) {
      throw badFrame('the hello reply lacks frameBytesMax or inFlightMax');
    }
    this.sendBytesMax = frameBytesMax;
    this.receiveBytesMax = frameBytesMax;
    this.#inFlightMax = Math.min(inFlightMax, MEMBER_IN_FLIGHT_MAX);
    this.#ready = true;
    this.#drain();
    return result;
  }

  onEvent(listener: (name: string, data: Args) => void): void {
    this.#eventListener = listener;
  }

  request(op: string, args: Args): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const pending = { resolve, reject };
      if (this.isClosed) {
        reject(brokenWith(this.#brokenBy ?? new SanmqError('E_CONNECTION_BROKEN',
          `the connection to ${this.peer} is closed`)));
      } else if (op === 'hello' ||
        (this.#ready && this.#pending.size < this.#inFlightMax && this.#backlog.length === 0)) {
        this.#issue(op, args, pending);
      } else if (this.#backlog.length >= BACKLOG_MAX) {
        reject(new SanmqError('E_BUSY', `${BACKLOG_MAX} requests wait for the connection to ` +
          `${this.peer} already`));
      } else {
        this.#backlog.push({ op, args, pending });
      }
    });
  }

  #issue(op: string, args: Args, pending: Pending): void {
    const id = this.#nextId++;
    try {
      this.send({ kind: KIND_REQUEST, id, op, args });
    } catch (error) {
      pending.reject(error instanceof SanmqError ? error : Errors.internal(String(error)));
      return;
    }
    this.#pending.set(id, pending);
  }

  #drain(): void {
    while (this.#backlog.length > 0 && this.#pending.size < this.#inFlightMax) {
      const next = this.#backlog.shift() as Backlogged;
      this.#issue(next.op, next.args, next.pending);
    }
  }

  protected frame(frame: Frame): void {
    if (frame.kind === KIND_REQUEST) throw badFrame('a server sends no requests');
    if (frame.kind === KIND_EVENT) {
      this.#eventListener?.(frame.name, frame.data);
      return;
    }
    if (frame.kind === KIND_ERROR && frame.id === 0) {
      // The server broke the connection and said why.
      this.#brokenBy = fromWire(frame.error);
      this.destroy();
      return;
    }
    const pending = this.#pending.get(frame.id);
    if (pending === undefined) throw badFrame(`an answer to request ${frame.id}, which is not in flight`);
    this.#pending.delete(frame.id);
    if (frame.kind === KIND_REPLY) pending.resolve(frame.result);
    else pending.reject(fromWire(frame.error));
    if (this.#backlog.length > 0) this.#drain();
  }
}

/** Each waiting caller gets its own error object (callers may attach to it). */
function brokenWith(error: SanmqError): SanmqError {
  return new SanmqError(error.code, error.message, { ...error.details });
}

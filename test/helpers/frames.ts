/**
 * Raw protocol connections for tests that speak the wire format by hand (docs/PROTOCOL.md):
 * bytes and values go out exactly as a test builds them, over a TCP socket or a MessagePort,
 * and every frame that comes back is read, kept, and checked to be well formed. Waits are
 * bounded in time, so a server that stays silent fails a test instead of hanging it.
 */
import * as net from 'node:net';
import type { MessagePort } from 'node:worker_threads';

import { Packr } from 'msgpackr';

import {
  FrameReader,
  KIND_ERROR,
  KIND_REPLY,
  LENGTH_BYTES,
  unpackFrame,
  type Args,
  type Frame,
} from '../../src/protocol/frames.js';

/** The packer the protocol's own ends use (maps as maps, undefined as nil). */
const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });

/** A MessagePack encoding of `value`, copied out of the packer's buffer. */
export function packValue(value: unknown): Buffer {
  return Buffer.from(packr.pack(value));
}

/** A frame: a 4-byte big-endian length (the body's own unless `length` is given), the body. */
export function framed(body: Uint8Array, length = body.length): Buffer {
  const bytes = Buffer.alloc(LENGTH_BYTES + body.length);
  bytes.writeUInt32BE(length >>> 0, 0);
  bytes.set(body, LENGTH_BYTES);
  return bytes;
}

/** The bytes of a request frame. */
export function requestFrame(id: number, op: string, args: Args): Buffer {
  return framed(packValue([0, id, op, args]));
}

/** Frames the server may send are far below this; it only bounds what a test buffers. */
const RECEIVE_BYTES_MAX = 64 * 1024 * 1024;
export const CLOSE_WAIT_MS = 2_000;
export const ANSWER_WAIT_MS = 5_000;

export interface WireAnswer {
  kind: 'reply' | 'error';
  id: number;
  result: unknown;
  code: string | undefined;
}

/** One end of a connection driven by hand. */
export class RawConnection {
  /** Every frame the server sent, in order. */
  readonly frames: Frame[] = [];
  /** What the server sent that is not a well-formed frame (a server bug). */
  readonly malformed: string[] = [];
  #closed = false;
  #changed: (() => void)[] = [];
  readonly #reader = new FrameReader(RECEIVE_BYTES_MAX);
  readonly #write: (bytes: Uint8Array) => void;
  readonly #destroy: () => void;
  readonly #post: ((value: unknown, transfer?: ArrayBuffer[]) => void) | undefined;
  /** The id the next `request` uses. */
  nextId = 1;

  private constructor(write: (bytes: Uint8Array) => void, destroy: () => void,
    post?: (value: unknown, transfer?: ArrayBuffer[]) => void) {
    this.#write = write;
    this.#destroy = destroy;
    this.#post = post;
  }

  /** Connects to a TCP listener. `allowHalfOpen`: do not end our side when the server ends. */
  static tcp(port: number, allowHalfOpen = false): Promise<RawConnection> {
    return new Promise<RawConnection>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen });
      const connection = new RawConnection((bytes) => {
        if (!socket.destroyed && socket.writable) socket.write(bytes);
      }, () => socket.destroy());
      socket.on('data', (chunk: Buffer) => connection.#received(chunk));
      // A write racing the server's close fails with EPIPE or ECONNRESET: that is a close.
      socket.on('error', () => undefined);
      socket.on('close', () => connection.#ended());
      socket.once('connect', () => resolve(connection));
      socket.once('error', reject);
      connection.socket = socket;
    });
  }

  /** Drives the far end of a MessagePort whose near end a server serves. */
  static port(port: MessagePort): RawConnection {
    const connection = new RawConnection((bytes) => {
      const copy = new Uint8Array(bytes);
      port.postMessage(copy, [copy.buffer]);
    }, () => port.close(), (value, transfer) => port.postMessage(value, transfer ?? []));
    port.on('message', (value: unknown) => {
      if (value instanceof Uint8Array) connection.#received(value);
      else connection.malformed.push(`a port message that is not bytes: ${String(value)}`);
    });
    port.on('close', () => connection.#ended());
    return connection;
  }

  /** The socket of a TCP connection. */
  socket: net.Socket | undefined;

  get closed(): boolean {
    return this.#closed;
  }

  /** Error codes the server sent, in order. */
  get codes(): string[] {
    return this.frames.flatMap((frame) => (frame.kind === KIND_ERROR ? [frame.error.code] : []));
  }

  send(bytes: Uint8Array): void {
    if (!this.#closed) this.#write(bytes);
  }

  /** Posts any value on a port connection (not only bytes). */
  post(value: unknown, transfer?: ArrayBuffer[]): void {
    if (this.#post === undefined) throw new Error('post is for port connections');
    if (!this.#closed) this.#post(value, transfer);
  }

  /** Sends a request with the next id; resolves with its answer, or undefined. */
  async request(op: string, args: Args, timeoutMs = ANSWER_WAIT_MS):
  Promise<WireAnswer | undefined> {
    const id = this.nextId++;
    this.send(requestFrame(id, op, args));
    return this.answerTo(id, timeoutMs);
  }

  /** Says hello and insists on a reply. */
  async hello(args: Args): Promise<Args> {
    const answer = await this.request('hello', args);
    if (answer?.kind !== 'reply') {
      throw new Error(`hello was not accepted: ${JSON.stringify(answer?.code ?? 'no answer')}`);
    }
    return answer.result as Args;
  }

  /** The answer to request `id` once it comes; undefined when the connection closes first. */
  async answerTo(id: number, timeoutMs = ANSWER_WAIT_MS): Promise<WireAnswer | undefined> {
    await this.waitFor(() => this.#answer(id) !== undefined, timeoutMs);
    return this.#answer(id);
  }

  #answer(id: number): WireAnswer | undefined {
    for (const frame of this.frames) {
      if (frame.kind === KIND_REPLY && frame.id === id) {
        return { kind: 'reply', id, result: frame.result, code: undefined };
      }
      if (frame.kind === KIND_ERROR && frame.id === id) {
        return { kind: 'error', id, result: frame.error, code: frame.error.code };
      }
    }
    return undefined;
  }

  /** Resolves with whether the connection closed within `timeoutMs`. */
  waitClosed(timeoutMs = CLOSE_WAIT_MS): Promise<boolean> {
    return this.waitFor(() => false, timeoutMs).then(() => this.#closed);
  }

  /** Resolves with whether `condition` held before `timeoutMs` passed or the close. */
  waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const check = (): boolean => {
        if (!condition() && !this.#closed) return false;
        clearTimeout(timer);
        this.#changed = this.#changed.filter((listener) => listener !== onChange);
        resolve(condition());
        return true;
      };
      const onChange = (): void => {
        check();
      };
      const timer = setTimeout(() => {
        this.#changed = this.#changed.filter((listener) => listener !== onChange);
        resolve(condition());
      }, timeoutMs);
      if (!check()) this.#changed.push(onChange);
    });
  }

  destroy(): void {
    this.#destroy();
  }

  #received(chunk: Uint8Array): void {
    try {
      this.#reader.push(chunk, (body) => this.frames.push(unpackFrame(body)));
    } catch (error) {
      this.malformed.push((error as Error).message);
    }
    this.#notify();
  }

  #ended(): void {
    this.#closed = true;
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#changed]) listener();
  }
}

/** A readable account of what the server sent (bigints and bytes included). */
export function describe(connection: RawConnection): string {
  const text = JSON.stringify(connection.frames, (_key, value: unknown) =>
    (typeof value === 'bigint' ? `${value}n` : value));
  return `${text.slice(0, 600)} closed=${connection.closed}`;
}

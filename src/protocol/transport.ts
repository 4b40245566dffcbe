/**
 * The carriers of the protocol's byte stream: a MessagePort between threads, where each post
 * is a batch of whole frames in an ArrayBuffer that is transferred (moved, not copied), a TCP
 * (or TLS) socket, where the same bytes are written as a stream, and (src/protocol/mux.ts)
 * many connections sharing one port. Endpoints see only this interface, so every rule of the
 * protocol is enforced once for all. Frames queued in one turn of the event loop leave
 * together: the batch is sent from setImmediate, after every message, completion and timer
 * of the turn has had its say, not once per frame (or as soon as it holds BATCH_FRAMES_MAX).
 */
import type { Socket } from 'node:net';
import type { MessagePort } from 'node:worker_threads';

import { FrameBatch } from './frames.js';

export interface Transport {
  /** Queues one frame body (copied now) for this turn's batch. */
  frame(body: Uint8Array): void;
  /** Sends what is queued, then closes. */
  end(): void;
  /** Closes at once. */
  destroy(): void;
  /** `undefined`: the other end sent something that is not bytes (a protocol violation). */
  onData(listener: (chunk: Uint8Array | undefined) => void): void;
  onClose(listener: (error: Error | undefined) => void): void;
  /** Who is at the other end, for messages and logs. */
  readonly peer: string;
}

/** The largest size a batch starts at (a larger one grows as it fills). */
export const BATCH_HINT_BYTES_MAX = 1024 * 1024;
/**
 * Frames a batch carries at most: a fuller one leaves at once, mid-turn, and the turn's later
 * frames follow in the next. With many connections in step (64 answered by one group commit,
 * then all crossing together) the thread on the other side starts on the first frames while
 * this one still makes the rest, instead of the two taking turns; measured with 64 connections
 * (bench/qm.ts), 32 gave about 1.3 × the msgs/s of one batch per turn; 4, 8 and 16 gave less,
 * 48 about the same.
 */
export const BATCH_FRAMES_MAX = 32;

/** Time a closing socket has to hand over what is queued before it is destroyed. */
const END_GRACE_MS = 2_000;

/** Bytes a socket may hold unsent before its peer counts as stuck and is dropped. */
export const SOCKET_BACKLOG_BYTES_MAX = 256 * 1024 * 1024;

/** Gathers the frames of a turn and writes them as one batch. */
export abstract class BatchingTransport {
  #batch: FrameBatch | undefined;
  /** The last batch's size: the next is sized for it, not grown to it by doubling. */
  #lastBytes = 0;

  frame(body: Uint8Array): void {
    if (this.#batch === undefined) {
      this.#batch = new FrameBatch(Math.max(256, 2 * body.length + 8,
        Math.ceil(this.#lastBytes * 1.25)));
      setImmediate(() => this.flush());
    }
    this.#batch.add(body);
    if (this.#batch.count >= BATCH_FRAMES_MAX) this.flush();
  }

  /** Writes what is queued now (the turn's batch, or before closing). */
  protected flush(): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (batch === undefined || batch.count === 0) return;
    this.#lastBytes = Math.min(batch.length, BATCH_HINT_BYTES_MAX);
    this.send(batch.bytes());
  }

  /** Sends a batch of whole frames (a view of its own buffer, which may be transferred). */
  abstract send(bytes: Uint8Array): void;
}

export class PortTransport extends BatchingTransport implements Transport {
  readonly #port: MessagePort;
  readonly peer: string;
  #closed = false;
  #closeListener: ((error: Error | undefined) => void) | undefined;

  constructor(port: MessagePort, peer: string) {
    super();
    this.#port = port;
    this.peer = peer;
    port.on('close', () => this.#ended(undefined));
  }

  send(bytes: Uint8Array): void {
    if (this.#closed) return;
    // A view of its own ArrayBuffer (FrameBatch): moving the buffer moves the frames.
    this.#port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
  }

  end(): void {
    this.flush();
    this.destroy();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#port.close();
    this.#ended(undefined);
  }

  onData(listener: (chunk: Uint8Array | undefined) => void): void {
    this.#port.on('message', (value: unknown) => {
      if (value instanceof Uint8Array) listener(value);
      else if (value instanceof ArrayBuffer) listener(new Uint8Array(value));
      else listener(undefined);
    });
  }

  onClose(listener: (error: Error | undefined) => void): void {
    this.#closeListener = listener;
  }

  #ended(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeListener?.(error);
  }
}

export class SocketTransport extends BatchingTransport implements Transport {
  readonly #socket: Socket;
  readonly peer: string;
  #closeListener: ((error: Error | undefined) => void) | undefined;
  #error: Error | undefined;
  #closed = false;

  constructor(socket: Socket) {
    super();
    this.#socket = socket;
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    socket.on('error', (error) => {
      this.#error = error;
    });
    socket.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#closeListener?.(this.#error);
    });
  }

  send(bytes: Uint8Array): void {
    if (this.#socket.destroyed) return;
    if (this.#socket.writableLength + bytes.length > SOCKET_BACKLOG_BYTES_MAX) {
      this.#error = new Error(`the peer ${this.peer} reads too slowly: ` +
        `${this.#socket.writableLength} bytes wait unsent`);
      this.#socket.destroy();
      return;
    }
    this.#socket.write(bytes);
  }

  /**
   * Half-closing is not enough: a peer that keeps its side open would hold the socket. Once
   * what is queued is written the socket is destroyed, or after a grace period if the peer
   * does not read.
   */
  end(): void {
    this.flush();
    this.#socket.end(() => this.#socket.destroy());
    setTimeout(() => this.#socket.destroy(), END_GRACE_MS).unref();
  }

  destroy(): void {
    this.#socket.destroy();
  }

  onData(listener: (chunk: Uint8Array | undefined) => void): void {
    this.#socket.on('data', listener);
  }

  onClose(listener: (error: Error | undefined) => void): void {
    this.#closeListener = listener;
  }
}

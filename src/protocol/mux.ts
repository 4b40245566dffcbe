/**
 * Many protocol connections over one MessagePort (IBM MQ calls them conversations sharing a
 * channel instance, SHARECNV). Each application connection from a thread to a queue manager is
 * a conversation with its own hello, ids and limits, exactly as on a port of its own; what
 * they share is the carrier, so the frames of all of them that leave in one turn of the event
 * loop travel in transferred buffers of up to BATCH_FRAMES_MAX segments each, and a thread with
 * 64 connections posts twice a turn, not 64 times. A post holds segments:
 *
 *   u32 conversation   u32 length   length bytes (one frame body)
 *
 * all big endian. A segment of length 0 closes its conversation (frames are never empty).
 */
import type { MessagePort } from 'node:worker_threads';

import { BATCH_FRAMES_MAX, BATCH_HINT_BYTES_MAX, type Transport } from './transport.js';

const SEGMENT_HEAD_BYTES = 8;

/** Conversations one port carries at most; more are refused (closed) when they begin. */
export const CONVERSATIONS_MAX = 4096;

class Conversation implements Transport {
  readonly peer: string;
  #dataListener: ((chunk: Uint8Array | undefined) => void) | undefined;
  #closeListener: ((error: Error | undefined) => void) | undefined;
  closed = false;

  constructor(readonly mux: PortMux, readonly id: number, peer: string) {
    this.peer = peer;
  }

  frame(body: Uint8Array): void {
    if (!this.closed) this.mux.queue(this.id, body);
  }

  end(): void {
    if (this.closed) return;
    this.mux.queue(this.id, undefined);
    this.ended(undefined);
  }

  destroy(): void {
    this.end();
  }

  onData(listener: (chunk: Uint8Array | undefined) => void): void {
    this.#dataListener = listener;
  }

  onClose(listener: (error: Error | undefined) => void): void {
    this.#closeListener = listener;
  }

  deliver(chunk: Uint8Array | undefined): void {
    if (!this.closed) this.#dataListener?.(chunk);
  }

  ended(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.mux.forget(this.id);
    this.#closeListener?.(error);
  }
}

export class PortMux {
  readonly #port: MessagePort;
  readonly #peer: string;
  readonly #conversations = new Map<number, Conversation>();
  readonly #accept: ((transport: Transport) => void) | undefined;
  #nextId: number;
  #buffer: Uint8Array | undefined;
  #view: DataView | undefined;
  #length = 0;
  /** Segments in the post being gathered (BATCH_FRAMES_MAX: it leaves when full). */
  #count = 0;
  #lastBytes = 0;
  #closed = false;

  /**
   * `accept`: the serving side, told of each conversation the other side begins. The side
   * that begins conversations numbers them odd, so that ids never meet.
   */
  constructor(port: MessagePort, peer: string, accept?: (transport: Transport) => void) {
    this.#port = port;
    this.#peer = peer;
    this.#accept = accept;
    this.#nextId = 1;
    port.on('message', (value: unknown) => this.#receive(value));
    port.on('close', () => this.#closeAll(new Error(`the port to ${peer} closed`)));
  }

  get conversations(): number {
    return this.#conversations.size;
  }

  /** Begins a conversation (the connecting side). */
  open(): Transport {
    const id = this.#nextId;
    this.#nextId += 2;
    const conversation = new Conversation(this, id, this.#peer);
    this.#conversations.set(id, conversation);
    return conversation;
  }

  /** Queues a frame (or, undefined, the end) of a conversation for this turn's post. */
  queue(id: number, body: Uint8Array | undefined): void {
    if (this.#closed) return;
    const length = body?.length ?? 0;
    this.#room(SEGMENT_HEAD_BYTES + length);
    const view = this.#view as DataView;
    view.setUint32(this.#length, id);
    view.setUint32(this.#length + 4, length);
    if (body !== undefined) (this.#buffer as Uint8Array).set(body, this.#length + SEGMENT_HEAD_BYTES);
    this.#length += SEGMENT_HEAD_BYTES + length;
    if (++this.#count >= BATCH_FRAMES_MAX) this.#flush();
  }

  #room(bytes: number): void {
    if (this.#buffer === undefined) {
      // Sized for the last post, so that a steady flow does not grow each one by doubling.
      this.#buffer = new Uint8Array(new ArrayBuffer(Math.max(1024, 2 * bytes,
        Math.ceil(this.#lastBytes * 1.25))));
      this.#view = new DataView(this.#buffer.buffer);
      this.#length = 0;
      this.#count = 0;
      setImmediate(() => this.#flush());
      return;
    }
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = new Uint8Array(new ArrayBuffer(Math.max(2 * this.#buffer.length,
      this.#length + bytes)));
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  #flush(): void {
    const buffer = this.#buffer;
    this.#buffer = undefined;
    this.#view = undefined;
    if (buffer === undefined || this.#closed) return;
    this.#lastBytes = Math.min(this.#length, BATCH_HINT_BYTES_MAX);
    const bytes = buffer.subarray(0, this.#length);
    this.#port.postMessage(bytes, [bytes.buffer as ArrayBuffer]);
  }

  forget(id: number): void {
    this.#conversations.delete(id);
  }

  #receive(value: unknown): void {
    if (!(value instanceof Uint8Array)) {
      // Not segments: the port breaks, and every conversation on it.
      this.close();
      return;
    }
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    let at = 0;
    while (at + SEGMENT_HEAD_BYTES <= value.length) {
      const id = view.getUint32(at);
      const length = view.getUint32(at + 4);
      const end = at + SEGMENT_HEAD_BYTES + length;
      if (end > value.length) break;
      const conversation = this.#conversations.get(id) ?? this.#begin(id, length);
      if (conversation !== undefined) {
        // The conversation's stream chunk: the frame's length and body, as on a port of its own.
        if (length === 0) conversation.ended(undefined);
        else conversation.deliver(value.subarray(at + 4, end));
      }
      at = end;
    }
    if (at !== value.length) this.close();
  }

  #begin(id: number, length: number): Conversation | undefined {
    if (this.#accept === undefined || length === 0 || id % 2 === 0) return undefined;
    if (this.#conversations.size >= CONVERSATIONS_MAX) {
      this.queue(id, undefined);
      return undefined;
    }
    const conversation = new Conversation(this, id, this.#peer);
    this.#conversations.set(id, conversation);
    this.#accept(conversation);
    return conversation;
  }

  #closeAll(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const conversation of [...this.#conversations.values()]) conversation.ended(error);
  }

  /** Closes the port and every conversation on it. */
  close(): void {
    this.#flush();
    this.#closeAll(undefined);
    this.#port.close();
  }
}

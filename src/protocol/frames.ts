/**
 * The frames of sanmq's protocol (docs/PROTOCOL.md): how queue managers reach the controller
 * and applications reach queue managers, over a MessagePort between threads or over TCP. A
 * connection carries a stream of frames, each a 4-byte big-endian length and a MessagePack
 * array; the same bytes travel over TCP and, batched into transferred ArrayBuffers, between
 * threads. Everything read from the other end is checked here before anything acts on it: a
 * frame that is not well formed is an E_BAD_FRAME, never an exception of some other kind.
 */
import { Packr, Unpackr } from 'msgpackr';

import { SanmqError, type ErrorCode, ERROR_CODES } from '../errors.js';

export const PROTOCOL_VERSION = 1;
/** Versions this build speaks, newest first. */
export const PROTOCOL_VERSIONS: readonly number[] = [1];
export const LENGTH_BYTES = 4;
/** The default largest frame (body bytes); a connection's hello reply states its own. */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024;
/** Frames before the handshake completes are small: a stranger cannot make us buffer much. */
export const HELLO_FRAME_BYTES_MAX = 64 * 1024;
/** Requests a connection may have in flight (answered neither by a reply nor an error). */
export const IN_FLIGHT_MAX = 1024;
/** Application connections one queue manager serves at most. */
export const CONNECTIONS_MAX = 1024;
/**
 * A member's connection carries the requests of all its applications: room for every one of
 * them to use its whole in-flight limit, so that no application (with get-waits, say) can
 * hold the shared connection and starve the others.
 */
export const MEMBER_IN_FLIGHT_MAX = IN_FLIGHT_MAX * CONNECTIONS_MAX;

export const KIND_REQUEST = 0;
export const KIND_REPLY = 1;
export const KIND_ERROR = 2;
export const KIND_EVENT = 3;

export type Args = Record<string, unknown>;

export type Frame =
  | { kind: typeof KIND_REQUEST; id: number; op: string; args: Args }
  | { kind: typeof KIND_REPLY; id: number; result: unknown }
  | { kind: typeof KIND_ERROR; id: number; error: WireError }
  | { kind: typeof KIND_EVENT; name: string; data: Args };

export interface WireError {
  code: string;
  message: string;
  details: Args;
}

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
// 'auto': 64-bit integers within 2^53 read as numbers, beyond as bigints (msgpackr supports
// it; its typings lag).
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true,
  int64AsType: 'auto' as 'bigint' });

export function badFrame(message: string, details: Args = {}): SanmqError {
  return new SanmqError('E_BAD_FRAME', `bad frame: ${message}`, details);
}

/** The MessagePack body of a frame (a view of the packer's buffer: copy it before the next). */
export function packFrame(frame: Frame): Uint8Array {
  switch (frame.kind) {
    case KIND_REQUEST: return packr.pack([KIND_REQUEST, frame.id, frame.op, frame.args]);
    case KIND_REPLY: return packr.pack([KIND_REPLY, frame.id, frame.result]);
    case KIND_ERROR: return packr.pack([KIND_ERROR, frame.id, frame.error]);
    case KIND_EVENT: return packr.pack([KIND_EVENT, frame.name, frame.data]);
  }
}

function isArgs(value: unknown): value is Args {
  return typeof value === 'object' && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Reads one frame body; anything but a well-formed frame throws E_BAD_FRAME. */
export function unpackFrame(body: Uint8Array): Frame {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (error) {
    throw badFrame(`not MessagePack (${(error as Error).message})`);
  }
  if (!Array.isArray(value) || value.length !== 4 && value.length !== 3) {
    throw badFrame('a frame is an array of 3 or 4 items');
  }
  const [kind, first, second, third] = value as unknown[];
  if (kind === KIND_REQUEST && value.length === 4) {
    if (!isId(first)) throw badFrame('a request id is a positive integer');
    if (typeof second !== 'string' || second.length === 0 || second.length > 64) {
      throw badFrame('a request names its operation', { id: first });
    }
    if (!isArgs(third)) throw badFrame('request arguments are a map', { id: first });
    return { kind: KIND_REQUEST, id: first, op: second, args: third };
  }
  if (kind === KIND_REPLY && value.length === 3 && isId(first)) {
    return { kind: KIND_REPLY, id: first, result: second };
  }
  // Error id 0: about the connection itself (a frame whose request could not be read).
  if (kind === KIND_ERROR && value.length === 3 && (first === 0 || isId(first)) &&
    isWireError(second)) {
    return { kind: KIND_ERROR, id: first, error: second };
  }
  if (kind === KIND_EVENT && value.length === 3 && typeof first === 'string' && isArgs(second)) {
    return { kind: KIND_EVENT, name: first, data: second };
  }
  throw badFrame(`unknown frame kind ${JSON.stringify(kind)} or shape`);
}

function isWireError(value: unknown): value is WireError {
  return isArgs(value) && typeof value['code'] === 'string' &&
    typeof value['message'] === 'string' && isArgs(value['details']);
}

const codes = new Set<string>(ERROR_CODES);

/** An error as it travels: its code when it is one of ours, E_INTERNAL otherwise. */
export function toWire(error: unknown): WireError {
  if (error instanceof SanmqError) {
    return { code: error.code, message: error.message, details: plainDetails(error.details) };
  }
  return { code: 'E_INTERNAL', message: error instanceof Error ? error.message : String(error),
    details: {} };
}

/** The error a wire error stands for, with the same stable code as the library's. */
export function fromWire(wire: WireError): SanmqError {
  const code = (codes.has(wire.code) ? wire.code : 'E_INTERNAL') as ErrorCode;
  return new SanmqError(code, wire.message, wire.details);
}

/** Details keep only what MessagePack carries plainly (no class instances, no functions). */
function plainDetails(details: Readonly<Record<string, unknown>>): Args {
  const result: Args = {};
  for (const [key, value] of Object.entries(details)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) {
      result[key] = value;
    } else if (typeof value === 'bigint') {
      result[key] = value.toString();
    } else if (value instanceof Uint8Array) {
      result[key] = value;
    }
  }
  return result;
}

/**
 * Cuts a byte stream into frame bodies. Bodies are views of the bytes given, not copies, so
 * the caller keeps a chunk alive as long as what it decoded from it.
 */
export class FrameReader {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  frameBytesMax: number;

  constructor(frameBytesMax: number) {
    this.frameBytesMax = frameBytesMax;
  }

  /** Calls `frame` with each whole frame body in `chunk` (and what came before it). */
  push(chunk: Uint8Array, frame: (body: Uint8Array) => void): void {
    let bytes = chunk;
    if (this.#pendingBytes > 0) {
      this.#pending.push(chunk);
      bytes = Buffer.concat(this.#pending, this.#pendingBytes + chunk.length);
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (bytes.length - at >= LENGTH_BYTES) {
      const length = view.getUint32(at);
      if (length > this.frameBytesMax) {
        throw badFrame(`a frame of ${length} bytes exceeds the limit of ${this.frameBytesMax}`,
          { bytes: length, max: this.frameBytesMax });
      }
      if (length === 0) throw badFrame('a frame has no body');
      if (bytes.length - at - LENGTH_BYTES < length) break;
      frame(bytes.subarray(at + LENGTH_BYTES, at + LENGTH_BYTES + length));
      at += LENGTH_BYTES + length;
    }
    if (at < bytes.length) {
      const rest = bytes.subarray(at);
      this.#pending.push(rest);
      this.#pendingBytes = rest.length;
    }
  }

  /** Bytes held of a frame not yet whole. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }
}

/**
 * Gathers frames into one buffer of length-prefixed frames: what a TCP write or a
 * MessagePort post carries. The buffer is new for each batch, so it can be transferred.
 */
export class FrameBatch {
  #buffer: Uint8Array;
  #view: DataView;
  length = 0;
  count = 0;

  constructor(capacity = 4096) {
    this.#buffer = new Uint8Array(new ArrayBuffer(capacity));
    this.#view = new DataView(this.#buffer.buffer);
  }

  add(body: Uint8Array): void {
    const need = this.length + LENGTH_BYTES + body.length;
    if (need > this.#buffer.length) {
      let capacity = this.#buffer.length * 2;
      while (capacity < need) capacity *= 2;
      const grown = new Uint8Array(new ArrayBuffer(capacity));
      grown.set(this.#buffer.subarray(0, this.length));
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#view.setUint32(this.length, body.length);
    this.#buffer.set(body, this.length + LENGTH_BYTES);
    this.length = need;
    this.count++;
  }

  /** The frames gathered, as a view of this batch's own ArrayBuffer. */
  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.length);
  }
}

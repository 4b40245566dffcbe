/**
 * The byte layout of the controller's records (docs/FORMAT.md, "Controller records"). Page set 1
 * holds message records and unit-of-work records; page set 0, the catalog, holds queue
 * definitions and the controller's own attributes. A message record opens with a fixed
 * 96-byte head that mount reads without touching the rest, so the in-memory index is rebuilt
 * from heads alone. Integers are little endian; 64-bit counters are written as two 32-bit
 * halves and read back as numbers (they stay below 2^53).
 */
import { SanmqError } from '../errors.js';
import type { Descriptor } from './descriptor.js';

export const RECORD_MESSAGE = 1;
export const RECORD_UNIT = 2;
export const RECORD_QUEUE = 3;
export const RECORD_CONTROLLER = 4;
export const RECORD_CHANNEL = 5;
export const CODEC_VERSION = 1;

export const MESSAGE_HEAD_BYTES = 96;
export const ID_BYTES = 24;
export const NAME_BYTES_MAX = 48;
export const FORMAT_BYTES_MAX = 8;
export const XID_BYTES_MAX = 140;
/** Where the message id and the correlation id lie in a message record. */
export const ID_AT = 48;
export const CORRELATION_AT = 72;

const FLAG_DEAD_LETTER = 1;
const FLAG_DESCRIPTOR = 2;

/** Unit states as a unit record stores them. */
export const UNIT_PREPARED = 1;
export const UNIT_COMMITTED = 2;

export type PropertyValue = string | number | boolean | bigint | Uint8Array | null;
export type Properties = Record<string, PropertyValue>;

/** Why a message was moved to a backout or dead-letter queue (after IBM MQ's MQDLH). */
export interface DeadLetterHeader {
  /** An IBM MQ reason code, e.g. 2362 (MQRC_BACKOUT_THRESHOLD_REACHED). */
  reason: number;
  originalQueue: string;
  /** Milliseconds since the epoch when it was moved. */
  movedAt: number;
}

/** Everything a message record holds. */
export interface MessageFields {
  queueId: number;
  sequence: number;
  unitId: number;
  putTime: number;
  /** Milliseconds since the epoch after which the message is expired; 0: never. */
  expiresAt: number;
  priority: number;
  backoutCount: number;
  messageId: Uint8Array;
  correlationId: Uint8Array;
  replyToQueue: string;
  replyToQueueManager: string;
  format: string;
  properties: Properties;
  deadLetter: DeadLetterHeader | undefined;
  /** The MQMD fields beyond the core ones, when the putter gave them. */
  descriptor: Descriptor | undefined;
  body: Uint8Array;
}

/** The fixed head of a message record: what the in-memory index needs. */
export interface MessageHead {
  queueId: number;
  sequence: number;
  unitId: number;
  expiresAt: number;
  priority: number;
  backoutCount: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function corrupt(message: string): SanmqError {
  return new SanmqError('E_CORRUPT', `controller record: ${message}`);
}

function writeU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % 0x1_0000_0000, true);
  view.setUint32(at + 4, Math.floor(value / 0x1_0000_0000), true);
}

function readU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x1_0000_0000;
}

/** A growing byte writer for the variable part of records. */
class Writer {
  #bytes: Uint8Array;
  #view: DataView;
  length = 0;

  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  #room(bytes: number): void {
    if (this.length + bytes <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < this.length + bytes) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.length));
    this.#bytes = grown;
    this.#view = new DataView(grown.buffer);
  }

  get view(): DataView {
    return this.#view;
  }

  skip(bytes: number): number {
    this.#room(bytes);
    const at = this.length;
    this.length += bytes;
    return at;
  }

  u8(value: number): void {
    this.#room(1);
    this.#view.setUint8(this.length, value);
    this.length += 1;
  }

  u32(value: number): void {
    this.#room(4);
    this.#view.setUint32(this.length, value, true);
    this.length += 4;
  }

  i32(value: number): void {
    this.#room(4);
    this.#view.setInt32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  bytes(value: Uint8Array): void {
    this.#room(value.length);
    this.#bytes.set(value, this.length);
    this.length += value.length;
  }

  /** A length-prefixed (u32) byte string. */
  blob(value: Uint8Array): void {
    this.u32(value.length);
    this.bytes(value);
  }

  text(value: string): void {
    if (value.length === 0) this.u32(0);
    else this.blob(encoder.encode(value));
  }

  finish(): Buffer {
    return Buffer.from(this.#bytes.buffer, this.#bytes.byteOffset, this.length);
  }

  copyTo(target: Uint8Array, at: number): void {
    target.set(this.#bytes.subarray(0, this.length), at);
  }
}

/** The encoder's reusable writer (JavaScript runs one encode at a time; callers copy out). */
const scratch = new Writer(1024);

/** A bounds-checked reader; running past the end is corruption, never a crash. */
class Reader {
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  at: number;

  constructor(bytes: Uint8Array, at: number) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = at;
  }

  #need(bytes: number): void {
    if (this.at + bytes > this.#bytes.length) {
      throw corrupt(`ends at byte ${this.#bytes.length}, ${bytes} more were expected at ${this.at}`);
    }
  }

  u8(): number {
    this.#need(1);
    return this.#view.getUint8(this.at++);
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.at, true);
    this.at += 4;
    return value;
  }

  i32(): number {
    this.#need(4);
    const value = this.#view.getInt32(this.at, true);
    this.at += 4;
    return value;
  }

  f64(): number {
    this.#need(8);
    const value = this.#view.getFloat64(this.at, true);
    this.at += 8;
    return value;
  }

  bytes(length: number): Uint8Array {
    this.#need(length);
    const value = this.#bytes.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }

  blob(): Uint8Array {
    return this.bytes(this.u32());
  }

  text(): string {
    const length = this.u32();
    if (length === 0) return '';
    try {
      return decoder.decode(this.bytes(length));
    } catch {
      throw corrupt(`a string before byte ${this.at} is not UTF-8`);
    }
  }
}

const PROPERTY_NULL = 0;
const PROPERTY_FALSE = 1;
const PROPERTY_TRUE = 2;
const PROPERTY_NUMBER = 3;
const PROPERTY_BIGINT = 4;
const PROPERTY_STRING = 5;
const PROPERTY_BYTES = 6;

function writeProperties(writer: Writer, properties: Properties): void {
  const names = Object.keys(properties);
  writer.u32(names.length);
  for (const name of names) {
    writer.text(name);
    const value = properties[name];
    if (value === null || value === undefined) writer.u8(PROPERTY_NULL);
    else if (value === false) writer.u8(PROPERTY_FALSE);
    else if (value === true) writer.u8(PROPERTY_TRUE);
    else if (typeof value === 'number') {
      writer.u8(PROPERTY_NUMBER);
      writer.f64(value);
    } else if (typeof value === 'bigint') {
      writer.u8(PROPERTY_BIGINT);
      writer.text(value.toString());
    } else if (typeof value === 'string') {
      writer.u8(PROPERTY_STRING);
      writer.text(value);
    } else {
      writer.u8(PROPERTY_BYTES);
      writer.blob(value);
    }
  }
}

function readProperties(reader: Reader): Properties {
  const count = reader.u32();
  const properties: Properties = {};
  for (let i = 0; i < count; i++) {
    const name = reader.text();
    const kind = reader.u8();
    switch (kind) {
      case PROPERTY_NULL: properties[name] = null; break;
      case PROPERTY_FALSE: properties[name] = false; break;
      case PROPERTY_TRUE: properties[name] = true; break;
      case PROPERTY_NUMBER: properties[name] = reader.f64(); break;
      case PROPERTY_BIGINT: properties[name] = BigInt(reader.text()); break;
      case PROPERTY_STRING: properties[name] = reader.text(); break;
      case PROPERTY_BYTES: properties[name] = Buffer.from(reader.blob()); break;
      default: throw corrupt(`property ${JSON.stringify(name)} has unknown type ${kind}`);
    }
  }
  return properties;
}

/**
 * Message record: u8 type (1), u8 version, u16 flags, u32 queue id, u64 sequence, u64 unit id
 * (0: committed on its own), u64 put time, u64 expiry time (ms; 0: never), u8 priority,
 * u8 reserved, u16 backout count, u32 body length, 24-byte message id, 24-byte correlation
 * id (the 96-byte head); then reply-to queue, reply-to queue manager and format as
 * length-prefixed UTF-8, the properties, the dead-letter header when flag 1 is set, the
 * descriptor when flag 2 is set, the body.
 */
export function encodeMessage(fields: MessageFields): Buffer {
  // The part between head and body goes to a scratch writer first, so that the record is
  // allocated once at its exact size (one copy of the body, no growth, no zero-fill).
  const middle = scratch;
  middle.length = 0;
  middle.text(fields.replyToQueue);
  middle.text(fields.replyToQueueManager);
  middle.text(fields.format);
  writeProperties(middle, fields.properties);
  if (fields.deadLetter !== undefined) {
    middle.u32(fields.deadLetter.reason);
    middle.text(fields.deadLetter.originalQueue);
    middle.f64(fields.deadLetter.movedAt);
  }
  if (fields.descriptor !== undefined) writeDescriptor(middle, fields.descriptor);
  const record = Buffer.allocUnsafeSlow(MESSAGE_HEAD_BYTES + middle.length + fields.body.length);
  record.fill(0, 0, MESSAGE_HEAD_BYTES);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  view.setUint8(0, RECORD_MESSAGE);
  view.setUint8(1, CODEC_VERSION);
  view.setUint16(2, (fields.deadLetter === undefined ? 0 : FLAG_DEAD_LETTER) |
    (fields.descriptor === undefined ? 0 : FLAG_DESCRIPTOR), true);
  view.setUint32(4, fields.queueId, true);
  writeU64(view, 8, fields.sequence);
  writeU64(view, 16, fields.unitId);
  writeU64(view, 24, fields.putTime);
  writeU64(view, 32, fields.expiresAt);
  view.setUint8(40, fields.priority);
  view.setUint16(42, Math.min(fields.backoutCount, 0xffff), true);
  view.setUint32(44, fields.body.length, true);
  record.set(fields.messageId, 48);
  record.set(fields.correlationId, 72);
  middle.copyTo(record, MESSAGE_HEAD_BYTES);
  record.set(fields.body, MESSAGE_HEAD_BYTES + middle.length);
  return record;
}

/**
 * The head fields of a message record at `at` in `bytes` (a batch of heads), without checks
 * beyond type and version: mount reads millions of them.
 */
export function readHeadAt(view: DataView, at: number): MessageHead | undefined {
  if (view.getUint8(at) !== RECORD_MESSAGE || view.getUint8(at + 1) !== CODEC_VERSION) {
    return undefined;
  }
  return {
    queueId: view.getUint32(at + 4, true),
    sequence: readU64(view, at + 8),
    unitId: readU64(view, at + 16),
    expiresAt: readU64(view, at + 32),
    priority: view.getUint8(at + 40),
    backoutCount: view.getUint16(at + 42, true),
  };
}

/** Reads the fixed head of a message record (mount reads nothing more). */
export function decodeMessageHead(record: Uint8Array): MessageHead {
  if (record.length < MESSAGE_HEAD_BYTES || record[0] !== RECORD_MESSAGE) {
    throw corrupt(`not a message record (type ${record[0]}, ${record.length} bytes)`);
  }
  if (record[1] !== CODEC_VERSION) throw corrupt(`message record version ${record[1]}`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  return {
    queueId: view.getUint32(4, true),
    sequence: readU64(view, 8),
    unitId: readU64(view, 16),
    expiresAt: readU64(view, 32),
    priority: view.getUint8(40),
    backoutCount: view.getUint16(42, true),
  };
}

/** Decodes a whole message record; ids and body are views into `record`, not copies. */
export function decodeMessage(record: Uint8Array): MessageFields {
  const head = decodeMessageHead(record);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const reader = new Reader(record, MESSAGE_HEAD_BYTES);
  const replyToQueue = reader.text();
  const replyToQueueManager = reader.text();
  const format = reader.text();
  const properties = readProperties(reader);
  const flags = view.getUint16(2, true);
  let deadLetter: DeadLetterHeader | undefined;
  if ((flags & FLAG_DEAD_LETTER) !== 0) {
    deadLetter = { reason: reader.u32(), originalQueue: reader.text(), movedAt: reader.f64() };
  }
  const descriptor = (flags & FLAG_DESCRIPTOR) !== 0 ? readDescriptor(reader) : undefined;
  const body = reader.bytes(view.getUint32(44, true));
  if (reader.at !== record.length) {
    throw corrupt(`message record has ${record.length - reader.at} bytes after its body`);
  }
  // Built field by field: an object spread here costs more than the rest of the decode.
  return {
    queueId: head.queueId,
    sequence: head.sequence,
    unitId: head.unitId,
    putTime: readU64(view, 24),
    expiresAt: head.expiresAt,
    priority: head.priority,
    backoutCount: head.backoutCount,
    messageId: record.subarray(48, 72),
    correlationId: record.subarray(72, 96),
    replyToQueue,
    replyToQueueManager,
    format,
    properties,
    deadLetter,
    descriptor,
    body,
  };
}

/**
 * Descriptor (flag 2): i32 ccsid, encoding, message type, feedback, report, put application
 * type, sequence number, offset, message flags, original length; then user id, application
 * identity, put application name and application origin as length-prefixed UTF-8; then the
 * accounting token and group id as length-prefixed bytes.
 */
function writeDescriptor(writer: Writer, d: Descriptor): void {
  for (const value of [d.ccsid, d.encoding, d.messageType, d.feedback, d.report, d.putApplType,
    d.sequenceNumber, d.offset, d.messageFlags, d.originalLength]) writer.i32(value);
  writer.text(d.userId);
  writer.text(d.applIdentity);
  writer.text(d.putApplName);
  writer.text(d.applOrigin);
  writer.blob(d.accountingToken);
  writer.blob(d.groupId);
}

function readDescriptor(reader: Reader): Descriptor {
  const ccsid = reader.i32();
  const encoding = reader.i32();
  const messageType = reader.i32();
  const feedback = reader.i32();
  const report = reader.i32();
  const putApplType = reader.i32();
  const sequenceNumber = reader.i32();
  const offset = reader.i32();
  const messageFlags = reader.i32();
  const originalLength = reader.i32();
  return {
    ccsid, encoding, messageType, feedback, report, putApplType, sequenceNumber, offset,
    messageFlags, originalLength, userId: reader.text(), applIdentity: reader.text(),
    putApplName: reader.text(), applOrigin: reader.text(),
    accountingToken: Buffer.from(reader.blob()), groupId: Buffer.from(reader.blob()),
  };
}

/** The message id and correlation id of a record, without copying. */
export function messageIds(record: Uint8Array): { messageId: Uint8Array; correlationId: Uint8Array } {
  return { messageId: record.subarray(48, 72), correlationId: record.subarray(72, 96) };
}

/** A copy of a message record with a new unit id and backout count (the rest unchanged). */
export function restampMessage(record: Uint8Array, unitId: number, backoutCount: number): Buffer {
  const copy = Buffer.from(record);
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  writeU64(view, 16, unitId);
  view.setUint16(42, Math.min(backoutCount, 0xffff), true);
  return copy;
}

/** Writes a message's sequence into its record (units number their puts when they commit). */
export function stampSequence(record: Uint8Array, sequence: number): void {
  writeU64(new DataView(record.buffer, record.byteOffset, record.byteLength), 8, sequence);
}

const ZERO_ID = new Uint8Array(ID_BYTES);

/** Whether a 24-byte id is all zeros (MQMI_NONE / MQCI_NONE: no id). */
export function isZeroId(id: Uint8Array): boolean {
  return Buffer.compare(id, ZERO_ID) === 0;
}

/** A 32-bit hash of a 24-byte id (FNV-1a), for the index; matches are verified on the record. */
export function idHash(id: Uint8Array, at = 0): number {
  let hash = 0x811c9dc5;
  for (let i = at; i < at + ID_BYTES; i++) {
    hash ^= id[i] as number;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export interface UnitRecord {
  state: typeof UNIT_PREPARED | typeof UNIT_COMMITTED;
  unitId: number;
  xid: string;
  /** Sequences of the messages the unit got (a prepared unit holds them locked). */
  consumed: number[];
}

/**
 * Unit record: u8 type (2), u8 version, u8 state (1 prepared, 2 committed), u8 reserved,
 * u32 count of consumed sequences, u64 unit id, the xid as length-prefixed UTF-8, then the
 * consumed sequences as u64 each.
 */
export function encodeUnit(unit: UnitRecord): Buffer {
  const writer = new Writer(64 + unit.consumed.length * 8);
  writer.u8(RECORD_UNIT);
  writer.u8(CODEC_VERSION);
  writer.u8(unit.state);
  writer.u8(0);
  writer.u32(unit.consumed.length);
  const at = writer.skip(8);
  writeU64(writer.view, at, unit.unitId);
  writer.text(unit.xid);
  for (const sequence of unit.consumed) writeU64(writer.view, writer.skip(8), sequence);
  return writer.finish();
}

export function decodeUnit(record: Uint8Array): UnitRecord {
  const reader = new Reader(record, 0);
  if (reader.u8() !== RECORD_UNIT) throw corrupt('not a unit record');
  if (reader.u8() !== CODEC_VERSION) throw corrupt(`unit record version ${record[1]}`);
  const state = reader.u8();
  if (state !== UNIT_PREPARED && state !== UNIT_COMMITTED) throw corrupt(`unit state ${state}`);
  reader.u8();
  const count = reader.u32();
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  reader.bytes(8);
  const unitId = readU64(view, 8);
  const xid = reader.text();
  const consumed: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = reader.at;
    reader.bytes(8);
    consumed.push(readU64(view, at));
  }
  if (reader.at !== record.length) throw corrupt('unit record has trailing bytes');
  return { state, unitId, xid, consumed };
}

/** Catalog records: u8 type (3 queue, 4 controller, 5 channel), u8 version, then UTF-8 JSON. */
export function encodeCatalog(type: typeof RECORD_QUEUE | typeof RECORD_CONTROLLER | typeof RECORD_CHANNEL,
  value: object): Buffer {
  const json = encoder.encode(JSON.stringify(value));
  const record = Buffer.alloc(2 + json.length);
  record[0] = type;
  record[1] = CODEC_VERSION;
  record.set(json, 2);
  return record;
}

export function decodeCatalog(record: Uint8Array): { type: number; value: Record<string, unknown> } {
  const type = record[0];
  if (type !== RECORD_QUEUE && type !== RECORD_CONTROLLER && type !== RECORD_CHANNEL) {
    throw corrupt(`catalog record type ${type}`);
  }
  if (record[1] !== CODEC_VERSION) throw corrupt(`catalog record version ${record[1]}`);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(record.subarray(2)));
  } catch {
    throw corrupt('catalog record is not JSON');
  }
  if (typeof value !== 'object' || value === null) throw corrupt('catalog record is not an object');
  return { type, value: value as Record<string, unknown> };
}

export function utf8Length(value: string): number {
  return encoder.encode(value).length;
}

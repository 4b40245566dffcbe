/**
 * The MQ message descriptor (MQMD) in IBM MQ's binary layout, version 2 (364 bytes) with
 * version 1 (its first 324 bytes) accepted on decode, and the MQ constants the mq personality
 * uses with it. Integers are written in the byte order the caller names and character fields
 * in the caller's CCSID, since both vary between the queue managers a message passes through.
 * The layout is one table of fields, checked at load to tile the structure without gaps.
 */
import assert from 'node:assert/strict';

import { Errors } from '../../errors.js';
import {
  decodeField, encodeField, encodeText, isSupportedCcsid, SUPPORTED_CCSIDS,
} from './convert.js';

export {
  MQRC_FORMAT_ERROR, MQRC_NOT_CONVERTED, MQRC_SOURCE_CCSID_ERROR, MQRC_TARGET_CCSID_ERROR,
} from './convert.js';

export const MQMD_BYTES = 364;
export const MQMD_V1_BYTES = 324;
export const MQMD_STRUC_ID = 'MD  ';
export const MQMD_VERSION_1 = 1;
export const MQMD_VERSION_2 = 2;

/** Encodings: integers reversed (little endian) / normal (big endian); the low nibble says. */
export const MQENC_NATIVE_LITTLE = 546;
export const MQENC_NATIVE_BIG = 273;
export const MQENC_INTEGER_MASK = 0x0f;
export const MQENC_INTEGER_NORMAL = 0x01;
export const MQENC_INTEGER_REVERSED = 0x02;

export const MQPER_NOT_PERSISTENT = 0;
export const MQPER_PERSISTENT = 1;
export const MQPER_PERSISTENCE_AS_Q_DEF = 2;
export const MQPRI_PRIORITY_AS_Q_DEF = -1;
export const MQEI_UNLIMITED = -1;
export const MQMT_REQUEST = 1;
export const MQMT_REPLY = 2;
export const MQMT_REPORT = 4;
export const MQMT_DATAGRAM = 8;
export const MQFMT_NONE = '';
export const MQFMT_STRING = 'MQSTR';
export const MQCCSI_Q_MGR = 0;

export type IntegerEncoding = 'big' | 'little';

/** The byte order of integers in an MQ encoding: 1 → big, 2 → little, else undefined. */
export function integerEncoding(encoding: number): IntegerEncoding | undefined {
  switch (encoding & MQENC_INTEGER_MASK) {
    case MQENC_INTEGER_NORMAL: return 'big';
    case MQENC_INTEGER_REVERSED: return 'little';
    default: return undefined;
  }
}

export interface Mqmd {
  report: number;
  msgType: number;
  expiry: number;
  feedback: number;
  encoding: number;
  codedCharSetId: number;
  format: string;
  priority: number;
  persistence: number;
  msgId: Buffer;
  correlId: Buffer;
  backoutCount: number;
  replyToQ: string;
  replyToQMgr: string;
  userIdentifier: string;
  accountingToken: Buffer;
  applIdentityData: string;
  putApplType: number;
  putApplName: string;
  putDate: string;
  putTime: string;
  applOriginData: string;
  groupId: Buffer;
  msgSeqNumber: number;
  offset: number;
  msgFlags: number;
  originalLength: number;
}

/** MQMD_DEFAULT, with fresh buffers for the ids. */
export function defaultMqmd(): Mqmd {
  return {
    report: 0, msgType: MQMT_DATAGRAM, expiry: MQEI_UNLIMITED, feedback: 0,
    encoding: MQENC_NATIVE_LITTLE, codedCharSetId: MQCCSI_Q_MGR, format: MQFMT_NONE,
    priority: MQPRI_PRIORITY_AS_Q_DEF, persistence: MQPER_PERSISTENCE_AS_Q_DEF,
    msgId: Buffer.alloc(24), correlId: Buffer.alloc(24), backoutCount: 0,
    replyToQ: '', replyToQMgr: '', userIdentifier: '', accountingToken: Buffer.alloc(32),
    applIdentityData: '', putApplType: 0, putApplName: '', putDate: '', putTime: '',
    applOriginData: '', groupId: Buffer.alloc(24), msgSeqNumber: 1, offset: 0, msgFlags: 0,
    originalLength: -1,
  };
}

type KeysOfType<T> = { [K in keyof Mqmd]: Mqmd[K] extends T ? K : never }[keyof Mqmd];

/** A field after StrucId and Version: an MQLONG, an MQCHARn or an MQBYTEn, by IBM's name. */
type Field =
  | { kind: 'long'; name: string; key: KeysOfType<number>; offset: number; width: 4 }
  | { kind: 'char'; name: string; key: KeysOfType<string>; offset: number; width: number }
  | { kind: 'byte'; name: string; key: KeysOfType<Buffer>; offset: number; width: number };

const long = (name: string, key: KeysOfType<number>, offset: number): Field =>
  ({ kind: 'long', name, key, offset, width: 4 });
const char = (name: string, key: KeysOfType<string>, offset: number, width: number): Field =>
  ({ kind: 'char', name, key, offset, width });
const byte = (name: string, key: KeysOfType<Buffer>, offset: number, width: number): Field =>
  ({ kind: 'byte', name, key, offset, width });

/** StrucId (MQCHAR4 at 0) and Version (MQLONG at 4) come first; these follow. */
const FIELDS: readonly Field[] = [
  long('Report', 'report', 8),
  long('MsgType', 'msgType', 12),
  long('Expiry', 'expiry', 16),
  long('Feedback', 'feedback', 20),
  long('Encoding', 'encoding', 24),
  long('CodedCharSetId', 'codedCharSetId', 28),
  char('Format', 'format', 32, 8),
  long('Priority', 'priority', 40),
  long('Persistence', 'persistence', 44),
  byte('MsgId', 'msgId', 48, 24),
  byte('CorrelId', 'correlId', 72, 24),
  long('BackoutCount', 'backoutCount', 96),
  char('ReplyToQ', 'replyToQ', 100, 48),
  char('ReplyToQMgr', 'replyToQMgr', 148, 48),
  char('UserIdentifier', 'userIdentifier', 196, 12),
  byte('AccountingToken', 'accountingToken', 208, 32),
  char('ApplIdentityData', 'applIdentityData', 240, 32),
  long('PutApplType', 'putApplType', 272),
  char('PutApplName', 'putApplName', 276, 28),
  char('PutDate', 'putDate', 304, 8),
  char('PutTime', 'putTime', 312, 8),
  char('ApplOriginData', 'applOriginData', 320, 4),
  // Version 2 from here.
  byte('GroupId', 'groupId', 324, 24),
  long('MsgSeqNumber', 'msgSeqNumber', 348),
  long('Offset', 'offset', 352),
  long('MsgFlags', 'msgFlags', 356),
  long('OriginalLength', 'originalLength', 360),
];

/** The table must tile the structure: each field starts where the one before ends. */
function checkLayout(): void {
  let offset = 8;
  for (const field of FIELDS) {
    assert.equal(field.offset, offset, `MQMD ${field.name} starts where the field before ends`);
    offset += field.width;
  }
  assert.equal(offset, MQMD_BYTES, 'the MQMD fields end at MQMD_BYTES');
  assert.ok(FIELDS.some((field) => field.offset === MQMD_V1_BYTES), 'a field starts at 324');
}
checkLayout();

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function writeLong(out: Buffer, offset: number, value: number, integers: IntegerEncoding): void {
  if (integers === 'big') out.writeInt32BE(value, offset);
  else out.writeInt32LE(value, offset);
}

function readLong(bytes: Buffer, offset: number, integers: IntegerEncoding): number {
  return integers === 'big' ? bytes.readInt32BE(offset) : bytes.readInt32LE(offset);
}

/** Validation shared by encode and decode: arguments a JavaScript caller may get wrong. */
function checkArguments(integers: IntegerEncoding, ccsid: number): void {
  if (integers !== 'big' && integers !== 'little') {
    throw Errors.invalidArgument(`integers must be 'big' or 'little'; got ${String(integers)}`);
  }
  if (!isSupportedCcsid(ccsid)) {
    throw Errors.invalidArgument(`MQMD character fields cannot be in CCSID ${ccsid}; ` +
      `supported: ${SUPPORTED_CCSIDS.join(', ')}`);
  }
}

function encodeOne(
  out: Buffer, md: Mqmd, field: Field, integers: IntegerEncoding, ccsid: number,
): void {
  switch (field.kind) {
    case 'long': {
      const value = md[field.key];
      if (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
        throw Errors.invalidArgument(`MQMD ${field.name} must be an integer from ` +
          `${INT32_MIN} to ${INT32_MAX}; got ${value}`);
      }
      writeLong(out, field.offset, value, integers);
      return;
    }
    case 'char':
      encodeField(md[field.key], field.width, ccsid, `MQMD ${field.name}`).copy(out, field.offset);
      return;
    case 'byte': {
      const value: unknown = md[field.key];
      if (!(value instanceof Uint8Array) || value.length !== field.width) {
        const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value;
        throw Errors.invalidArgument(`MQMD ${field.name} must be ${field.width} bytes; got ${got}`);
      }
      out.set(value, field.offset);
      return;
    }
  }
}

/**
 * Encodes a version-2 MQMD with integers in `integers` byte order and character fields in
 * `ccsid`. Throws E_INVALID_ARGUMENT naming the field if a string is too long for its field
 * or unconvertible, an integer is not an MQLONG, or an id is not 24 (token: 32) bytes.
 */
export function encodeMqmd(md: Mqmd, integers: IntegerEncoding, ccsid: number): Buffer {
  checkArguments(integers, ccsid);
  const out = Buffer.alloc(MQMD_BYTES);
  encodeField(MQMD_STRUC_ID, 4, ccsid, 'MQMD StrucId').copy(out, 0);
  writeLong(out, 4, MQMD_VERSION_2, integers);
  for (const field of FIELDS) encodeOne(out, md, field, integers, ccsid);
  return out;
}

function decodeOne(
  bytes: Buffer, md: Mqmd, field: Field, integers: IntegerEncoding, ccsid: number,
): void {
  const end = field.offset + field.width;
  switch (field.kind) {
    case 'long':
      md[field.key] = readLong(bytes, field.offset, integers);
      return;
    case 'char':
      md[field.key] = decodeField(bytes.subarray(field.offset, end), ccsid, `MQMD ${field.name}`);
      return;
    case 'byte':
      // A copy, so that the descriptor does not pin or alias the caller's buffer.
      md[field.key] = Buffer.from(bytes.subarray(field.offset, end));
      return;
  }
}

/** Reads Version, explaining a value that would be right in the other byte order. */
function readVersion(bytes: Buffer, integers: IntegerEncoding): number {
  const version = readLong(bytes, 4, integers);
  if (version === MQMD_VERSION_1 || version === MQMD_VERSION_2) return version;
  const other: IntegerEncoding = integers === 'big' ? 'little' : 'big';
  const swapped = readLong(bytes, 4, other);
  const hint = swapped === MQMD_VERSION_1 || swapped === MQMD_VERSION_2
    ? ` (it reads ${swapped} in ${other} endian: are the integers in the other byte order?)`
    : '';
  throw Errors.invalidArgument(`MQMD Version is ${version}; expected 1 or 2${hint}`);
}

/**
 * Decodes an MQMD of version 1 or 2; the version-2 fields of a version-1 MQMD take their
 * defaults, and bytes after the structure are ignored. Throws E_INVALID_ARGUMENT if it is
 * shorter than its version, StrucId is not "MD  " in `ccsid`, Version is not 1 or 2 in the
 * given byte order, or a character field is not valid in `ccsid`.
 */
export function decodeMqmd(bytes: Uint8Array, integers: IntegerEncoding, ccsid: number): Mqmd {
  checkArguments(integers, ccsid);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (view.length < MQMD_V1_BYTES) {
    throw Errors.invalidArgument(`MQMD is ${view.length} bytes; version 1 needs ` +
      `${MQMD_V1_BYTES} and version 2 ${MQMD_BYTES}`);
  }
  const strucId = view.subarray(0, 4);
  if (!strucId.equals(encodeText(MQMD_STRUC_ID, ccsid) ?? Buffer.alloc(0))) {
    throw Errors.invalidArgument(`MQMD StrucId is 0x${strucId.toString('hex')}, ` +
      `not "${MQMD_STRUC_ID}" in CCSID ${ccsid}`);
  }
  const version = readVersion(view, integers);
  const end = version === MQMD_VERSION_1 ? MQMD_V1_BYTES : MQMD_BYTES;
  if (view.length < end) {
    throw Errors.invalidArgument(`MQMD Version is ${version} but the MQMD is ` +
      `${view.length} bytes; version ${version} needs ${end}`);
  }
  const md = defaultMqmd();
  for (const field of FIELDS) {
    if (field.offset < end) decodeOne(view, md, field, integers, ccsid);
  }
  return md;
}

const pad = (value: number, digits: number): string => String(value).padStart(digits, '0');

/** PutDate (YYYYMMDD) and PutTime (HHMMSSTH, TH = hundredths) of a time, in GMT as MQ has it. */
export function putDateTime(ms: number): { putDate: string; putTime: string } {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) {
    throw Errors.invalidArgument(`putDateTime: ${ms} ms is not a time in the years 0 to 9999`);
  }
  const putDate = pad(year, 4) + pad(date.getUTCMonth() + 1, 2) + pad(date.getUTCDate(), 2);
  const putTime = pad(date.getUTCHours(), 2) + pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) + pad(Math.floor(date.getUTCMilliseconds() / 10), 2);
  return { putDate, putTime };
}

const EIGHT_DIGITS = /^\d{8}$/;

/** The time (ms since the epoch) of a PutDate and PutTime; undefined if malformed or blank. */
export function fromPutDateTime(putDate: string, putTime: string): number | undefined {
  if (!EIGHT_DIGITS.test(putDate) || !EIGHT_DIGITS.test(putTime)) return undefined;
  const [year, month, day] = [putDate.slice(0, 4), putDate.slice(4, 6), putDate.slice(6)]
    .map(Number) as [number, number, number];
  const [hours, minutes, seconds, hundredths] = [0, 2, 4, 6]
    .map((at) => Number(putTime.slice(at, at + 2))) as [number, number, number, number];
  if (hours > 23 || minutes > 59 || seconds > 59) return undefined;
  // setUTCFullYear, unlike Date.UTC, does not read years 0 to 99 as 1900 to 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hours, minutes, seconds, hundredths * 10);
  // Date rolls an impossible day (0230) into the next month; such a date is malformed.
  const valid = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day;
  return valid ? date.getTime() : undefined;
}

/**
 * The message descriptor fields that heterogeneous queue managers need beyond the core ones
 * every message has (ids, priority, persistence, expiry, reply-to, format): the character
 * set and encoding of the body, and the rest of IBM MQ's MQMD. The controller stores them
 * when a member gives them (a record flag, docs/FORMAT.md) and hands them back on get, so a
 * message put through one personality reads the same through another (docs/PERSONALITIES.md).
 * A message put without them reads with the defaults below.
 */
import { Errors } from '../errors.js';
import { ID_BYTES } from './codec.js';

export const ACCOUNTING_TOKEN_BYTES = 32;
/** IBM MQ's MQENC_NATIVE on little-endian machines: integers, decimals and floats reversed. */
export const ENCODING_NATIVE = 546;
export const CCSID_UTF8 = 1208;

export interface Descriptor {
  /** Coded character set id of the body's character data (MQMD CodedCharSetId). */
  ccsid: number;
  /** Numeric encoding of the body's integers (MQMD Encoding: 273 big endian, 546 little). */
  encoding: number;
  /** MQMT_*: 1 request, 2 reply, 4 report, 8 datagram. */
  messageType: number;
  feedback: number;
  report: number;
  userId: string;
  applIdentity: string;
  putApplType: number;
  putApplName: string;
  applOrigin: string;
  accountingToken: Uint8Array;
  groupId: Uint8Array;
  sequenceNumber: number;
  offset: number;
  messageFlags: number;
  originalLength: number;
}

/** What a message put without a descriptor reads as (IBM MQ's MQMD_DEFAULT, in UTF-8). */
export function defaultDescriptor(): Descriptor {
  return {
    ccsid: CCSID_UTF8, encoding: ENCODING_NATIVE, messageType: 8, feedback: 0, report: 0,
    userId: '', applIdentity: '', putApplType: 0, putApplName: '', applOrigin: '',
    accountingToken: new Uint8Array(ACCOUNTING_TOKEN_BYTES), groupId: new Uint8Array(ID_BYTES),
    sequenceNumber: 1, offset: 0, messageFlags: 0, originalLength: -1,
  };
}

/** Each text field and its limit in characters (MQMD's field widths). */
const TEXT_FIELDS = { userId: 12, applIdentity: 32, putApplName: 28, applOrigin: 4 } as const;
const INTEGER_FIELDS = ['ccsid', 'encoding', 'messageType', 'feedback', 'report', 'putApplType',
  'sequenceNumber', 'offset', 'messageFlags', 'originalLength'] as const;
const KEYS = new Set<string>([...Object.keys(TEXT_FIELDS), ...INTEGER_FIELDS, 'accountingToken',
  'groupId']);

/** A whole descriptor from what a caller gave (absent fields take their defaults). */
export function validateDescriptor(value: unknown): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw Errors.invalidArgument('message.descriptor must be an object');
  }
  const input = value as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!KEYS.has(key)) throw Errors.invalidArgument(`message.descriptor has no field '${key}'`);
  }
  const result = defaultDescriptor();
  for (const name of INTEGER_FIELDS) {
    const field = input[name];
    if (field === undefined) continue;
    if (typeof field !== 'number' || !Number.isInteger(field) || field < -0x8000_0000 ||
      field > 0x7fff_ffff) {
      throw Errors.invalidArgument(`message.descriptor.${name} must be a 32-bit integer`);
    }
    result[name] = field;
  }
  for (const [name, width] of Object.entries(TEXT_FIELDS) as [keyof typeof TEXT_FIELDS, number][]) {
    const field = input[name];
    if (field === undefined) continue;
    if (typeof field !== 'string' || field.length > width) {
      throw Errors.invalidArgument(`message.descriptor.${name} must be a string of at most ${width} characters`);
    }
    result[name] = field;
  }
  result.accountingToken = bytes(input['accountingToken'], ACCOUNTING_TOKEN_BYTES, 'accountingToken') ??
    result.accountingToken;
  result.groupId = bytes(input['groupId'], ID_BYTES, 'groupId') ?? result.groupId;
  return result;
}

function bytes(value: unknown, length: number, name: string): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw Errors.invalidArgument(`message.descriptor.${name} must be ${length} bytes`);
  }
  return value;
}

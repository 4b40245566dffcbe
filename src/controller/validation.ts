/**
 * Validation of what applications hand a session: messages, put and get options. Every
 * message names the field and the rule, so a caller can fix the call from the error alone.
 */
import { Errors } from '../errors.js';
import { NAME_PATTERN } from './attributes.js';
import { validateDescriptor, type Descriptor } from './descriptor.js';
import { compileSelector, type Selector } from './selector.js';
import {
  FORMAT_BYTES_MAX,
  ID_BYTES,
  type Properties,
  type PropertyValue,
} from './codec.js';

export interface MessageInput {
  body: Uint8Array | string;
  /** 24 bytes; a new unique id is generated when absent. */
  messageId?: Uint8Array;
  /** 24 bytes; all zeros when absent. */
  correlationId?: Uint8Array;
  /** 0–9; the queue's default priority when absent. */
  priority?: number;
  /** The queue's default persistence when absent. */
  persistent?: boolean;
  /** Lifetime in tenths of a second; -1 or absent: unlimited. */
  expiry?: number;
  replyToQueue?: string;
  replyToQueueManager?: string;
  /** Up to 8 characters, as MQMD Format (e.g. 'MQSTR'). */
  format?: string;
  properties?: Properties;
  /** MQMD fields beyond the core ones (character set, encoding, …); see descriptor.ts. */
  descriptor?: Partial<Descriptor>;
}

export interface PutOptions {
  /** Put under syncpoint: visible to others only once the unit commits. */
  syncpoint?: boolean;
}

export interface GetOptions {
  /** Get under syncpoint: the message stays locked until commit (gone) or backout (back). */
  syncpoint?: boolean;
  /** Wait up to this long for a matching message to be committed (default 0). */
  waitMs?: number;
  /** Only a message with this message id. */
  messageId?: Uint8Array;
  /** Only a message with this correlation id. */
  correlationId?: Uint8Array;
  /** Only a message this JMS message selector selects (SQL-92 subset; see selector.ts). */
  selector?: string;
}

export interface BrowseOptions {
  messageId?: Uint8Array;
  correlationId?: Uint8Array;
  selector?: string;
}

export interface ValidMessage {
  body: Buffer;
  messageId: Uint8Array | undefined;
  correlationId: Uint8Array;
  priority: number | undefined;
  persistent: boolean | undefined;
  expiry: number | undefined;
  replyToQueue: string;
  replyToQueueManager: string;
  format: string;
  properties: Properties;
  descriptor: Descriptor | undefined;
  syncpoint: boolean;
}

const MESSAGE_KEYS = ['body', 'messageId', 'correlationId', 'priority', 'persistent', 'expiry',
  'replyToQueue', 'replyToQueueManager', 'format', 'properties', 'descriptor'];
const PROPERTY_NAME = /^[A-Za-z_$][A-Za-z0-9_$.]{0,255}$/;
const PROPERTIES_MAX = 1024;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
const EXPIRY_MAX = 999_999_999;

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw Errors.invalidArgument(`${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

function known(value: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw Errors.invalidArgument(`${what} has no option '${key}'`);
  }
}

function id(value: unknown, what: string): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof Uint8Array) || value.length !== ID_BYTES) {
    throw Errors.invalidArgument(`${what} must be a Buffer of ${ID_BYTES} bytes`);
  }
  return value;
}

function optionalFlag(value: unknown, what: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw Errors.invalidArgument(`${what} must be true or false`);
  return value;
}

function optionalName(value: unknown, what: string): string {
  if (value === undefined || value === '') return '';
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw Errors.invalidArgument(`${what} must be a queue or queue manager name of 1 to 48 characters`);
  }
  return value;
}

function properties(value: unknown): Properties {
  if (value === undefined) return {};
  const input = object(value, 'message.properties');
  const names = Object.keys(input);
  if (names.length > PROPERTIES_MAX) {
    throw Errors.invalidArgument(`message.properties holds at most ${PROPERTIES_MAX} properties`);
  }
  const result: Properties = {};
  for (const name of names) {
    if (!PROPERTY_NAME.test(name)) {
      throw Errors.invalidArgument(`property name '${name}' must start with a letter, '_' or '$' ` +
        'and hold only letters, digits, _, $ and .');
    }
    const item = input[name];
    const ok = item === null || typeof item === 'string' || typeof item === 'number' ||
      typeof item === 'boolean' || typeof item === 'bigint' || item instanceof Uint8Array;
    if (!ok) {
      throw Errors.invalidArgument(`property '${name}' must be a string, number, boolean, ` +
        'bigint, Buffer or null');
    }
    if (typeof item === 'bigint' && (item < LONG_MIN || item > LONG_MAX)) {
      throw Errors.invalidArgument(`property '${name}' is a bigint beyond 64 bits (a long)`);
    }
    result[name] = item as PropertyValue;
  }
  return result;
}

export function validateMessage(message: unknown, options: unknown): ValidMessage {
  const m = object(message, 'message');
  known(m, MESSAGE_KEYS, 'message');
  const o = options === undefined ? {} : object(options, 'options');
  known(o, ['syncpoint'], 'put options');
  const body = m['body'];
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) {
    throw Errors.invalidArgument('message.body must be a Buffer, Uint8Array or string');
  }
  const priority = m['priority'];
  if (priority !== undefined &&
    (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0 || priority > 9)) {
    throw Errors.invalidArgument('message.priority must be an integer from 0 to 9');
  }
  const expiry = m['expiry'];
  if (expiry !== undefined && (typeof expiry !== 'number' || !Number.isInteger(expiry) ||
    expiry === 0 || expiry < -1 || expiry > EXPIRY_MAX)) {
    throw Errors.invalidArgument(
      `message.expiry must be -1 (unlimited) or an integer from 1 to ${EXPIRY_MAX} (tenths of a second)`);
  }
  const format = m['format'] ?? '';
  if (typeof format !== 'string' || format.length > FORMAT_BYTES_MAX || !/^[\x20-\x7e]*$/.test(format)) {
    throw Errors.invalidArgument(`message.format must be at most ${FORMAT_BYTES_MAX} printable ASCII characters`);
  }
  return {
    body: typeof body === 'string' ? Buffer.from(body, 'utf8')
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    messageId: id(m['messageId'], 'message.messageId'),
    correlationId: id(m['correlationId'], 'message.correlationId') ?? Buffer.alloc(ID_BYTES),
    priority: priority as number | undefined,
    persistent: optionalFlag(m['persistent'], 'message.persistent'),
    expiry: expiry as number | undefined,
    replyToQueue: optionalName(m['replyToQueue'], 'message.replyToQueue'),
    replyToQueueManager: optionalName(m['replyToQueueManager'], 'message.replyToQueueManager'),
    format,
    properties: properties(m['properties']),
    descriptor: m['descriptor'] === undefined ? undefined : validateDescriptor(m['descriptor']),
    syncpoint: optionalFlag(o['syncpoint'], 'options.syncpoint') ?? false,
  };
}

function selector(value: unknown): Selector | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw Errors.invalidArgument('options.selector must be a string');
  const compiled = compileSelector(value);
  return compiled.text.trim() === '' ? undefined : compiled;
}

export function validateGet(options: unknown, waitMsMax: number): {
  syncpoint: boolean; waitMs: number; messageId: Uint8Array | undefined;
  correlationId: Uint8Array | undefined; selector: Selector | undefined;
} {
  const o = options === undefined ? {} : object(options, 'options');
  known(o, ['syncpoint', 'waitMs', 'messageId', 'correlationId', 'selector'], 'get options');
  const waitMs = o['waitMs'] ?? 0;
  if (typeof waitMs !== 'number' || !Number.isInteger(waitMs) || waitMs < 0 || waitMs > waitMsMax) {
    throw Errors.invalidArgument(`options.waitMs must be an integer from 0 to ${waitMsMax}`);
  }
  return {
    syncpoint: optionalFlag(o['syncpoint'], 'options.syncpoint') ?? false,
    waitMs,
    messageId: id(o['messageId'], 'options.messageId'),
    correlationId: id(o['correlationId'], 'options.correlationId'),
    selector: selector(o['selector']),
  };
}

export function validateBrowse(options: unknown): {
  messageId: Uint8Array | undefined; correlationId: Uint8Array | undefined;
  selector: Selector | undefined;
} {
  const o = options === undefined ? {} : object(options, 'options');
  known(o, ['messageId', 'correlationId', 'selector'], 'browse options');
  return {
    messageId: id(o['messageId'], 'options.messageId'),
    correlationId: id(o['correlationId'], 'options.correlationId'),
    selector: selector(o['selector']),
  };
}

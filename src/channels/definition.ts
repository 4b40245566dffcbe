/**
 * Channel definitions, as MQSC's DEFINE CHANNEL holds them: a sender moves the messages of a
 * shared transmission queue to a remote queue manager; a receiver accepts a remote sender's
 * batches and puts them to their destination queues. Every member of the group reads the same
 * definitions from the controller's catalog. Defaults are IBM MQ's, scaled where MQ's are
 * minutes (a retry every 60 s would make peer recovery slow to watch, not safer).
 */
import { Errors } from '../errors.js';
import { requireName } from '../controller/attributes.js';

export type ChannelType = 'sender' | 'receiver';

export interface ChannelAttributes {
  /** CHLTYPE(SDR) or CHLTYPE(RCVR). */
  type: ChannelType;
  /** XMITQ: the shared transmission queue a sender takes messages from ('' for a receiver). */
  transmissionQueue: string;
  /** CONNAME: 'host:port' of the remote queue manager's listener ('' for a receiver). */
  connection: string;
  /** The queue manager at the other end, as it names itself ('' : any). */
  remoteQueueManager: string;
  /** BATCHSZ: messages per batch, 1 to 9999. */
  batchSize: number;
  /** HBINT: seconds of idleness after which the sender checks the link (0: never). */
  heartbeatSeconds: number;
  /** SHORTRTY / SHORTTMR: quick restart attempts after a failure, and the wait between. */
  shortRetryCount: number;
  shortRetryMs: number;
  /** LONGRTY / LONGTMR: further attempts once the short ones are spent, and the wait between. */
  longRetryCount: number;
  longRetryMs: number;
  /** DESCR. */
  description: string;
}

export interface ChannelDefinition extends ChannelAttributes {
  name: string;
  /**
   * The CAS slot of the LUN that holds this channel's entry in the shared channel status
   * table; the controller assigns it when the channel is defined and keeps it for its life.
   */
  statusSlot: number;
}

/** Channel names follow the other object names (1–48 of A–Z a–z 0–9 . _ / %). */
export const CHANNEL_NAME_WHAT = 'channel name';

export const DEFAULT_CHANNEL_ATTRIBUTES: Readonly<Omit<ChannelAttributes, 'type'>> = Object.freeze({
  transmissionQueue: '',
  connection: '',
  remoteQueueManager: '',
  batchSize: 50,
  heartbeatSeconds: 300,
  shortRetryCount: 10,
  shortRetryMs: 1_000,
  longRetryCount: 999_999_999,
  longRetryMs: 60_000,
  description: '',
});

const KEYS = ['type', ...Object.keys(DEFAULT_CHANNEL_ATTRIBUTES)] as Array<keyof ChannelAttributes>;

/** 'host:port' with a port from 1 to 65535; hosts are names, IPv4 or [IPv6]. */
const CONNECTION_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;

export function parseConnection(connection: string): { host: string; port: number } {
  const match = CONNECTION_PATTERN.exec(connection);
  const port = match === null ? 0 : Number(match[2]);
  if (match === null || port < 1 || port > 65_535) {
    throw Errors.invalidArgument(`connection '${connection}' must be 'host:port' with a port from 1 to 65535`);
  }
  const host = (match[1] as string).replace(/^\[|\]$/g, '');
  return { host, port };
}

function whole(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw Errors.invalidArgument(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * Returns `base` with `changes` applied and validated; unknown keys are refused. A sender
 * needs a transmission queue and a connection; a receiver has neither.
 */
export function applyChannelAttributes(base: Readonly<ChannelAttributes>, changes: unknown):
ChannelAttributes {
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw Errors.invalidArgument('channel attributes must be an object');
  }
  const input = changes as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(KEYS as string[]).includes(key)) {
      throw Errors.invalidArgument(`unknown channel attribute '${key}'; known: ${KEYS.join(', ')}`);
    }
  }
  const result: ChannelAttributes = { ...base };
  const has = (key: keyof ChannelAttributes) => input[key] !== undefined;
  if (has('type')) {
    if (input['type'] !== 'sender' && input['type'] !== 'receiver') {
      throw Errors.invalidArgument("channel type must be 'sender' or 'receiver'");
    }
    result.type = input['type'];
  }
  if (has('transmissionQueue')) {
    result.transmissionQueue = input['transmissionQueue'] === '' ? ''
      : requireName(input['transmissionQueue'], 'transmissionQueue');
  }
  if (has('connection')) {
    if (typeof input['connection'] !== 'string') throw Errors.invalidArgument('connection must be a string');
    if (input['connection'] !== '') parseConnection(input['connection']);
    result.connection = input['connection'];
  }
  if (has('remoteQueueManager')) {
    result.remoteQueueManager = input['remoteQueueManager'] === '' ? ''
      : requireName(input['remoteQueueManager'], 'remoteQueueManager');
  }
  if (has('batchSize')) result.batchSize = whole(input['batchSize'], 'batchSize', 1, 9999);
  if (has('heartbeatSeconds')) {
    result.heartbeatSeconds = whole(input['heartbeatSeconds'], 'heartbeatSeconds', 0, 999_999);
  }
  if (has('shortRetryCount')) {
    result.shortRetryCount = whole(input['shortRetryCount'], 'shortRetryCount', 0, 999_999_999);
  }
  if (has('shortRetryMs')) result.shortRetryMs = whole(input['shortRetryMs'], 'shortRetryMs', 10, 86_400_000);
  if (has('longRetryCount')) {
    result.longRetryCount = whole(input['longRetryCount'], 'longRetryCount', 0, 999_999_999);
  }
  if (has('longRetryMs')) result.longRetryMs = whole(input['longRetryMs'], 'longRetryMs', 10, 86_400_000);
  if (has('description')) {
    if (typeof input['description'] !== 'string' || input['description'].length > 64) {
      throw Errors.invalidArgument('description must be a string of at most 64 characters');
    }
    result.description = input['description'];
  }
  if (result.type === 'sender') {
    if (result.transmissionQueue === '') throw Errors.invalidArgument('a sender channel needs a transmissionQueue');
    if (result.connection === '') throw Errors.invalidArgument("a sender channel needs a connection ('host:port')");
  } else if (result.transmissionQueue !== '' || result.connection !== '') {
    throw Errors.invalidArgument('a receiver channel has no transmissionQueue and no connection');
  }
  return result;
}

/** A definition's attributes from DEFINE's input: defaults first, then `attributes`. */
export function newChannelAttributes(attributes: unknown): ChannelAttributes {
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    throw Errors.invalidArgument('channel attributes must be an object');
  }
  const type = (attributes as Record<string, unknown>)['type'];
  if (type !== 'sender' && type !== 'receiver') {
    throw Errors.invalidArgument("channel type must be 'sender' or 'receiver'");
  }
  return applyChannelAttributes({ ...DEFAULT_CHANNEL_ATTRIBUTES, type }, attributes);
}

/**
 * Attributes read back from the catalog: defaults first, so older records gain new fields;
 * fields a newer version wrote are left aside.
 */
export function storedChannelAttributes(value: unknown): ChannelAttributes {
  const known: Record<string, unknown> = {};
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if ((KEYS as string[]).includes(key)) known[key] = item;
    }
  }
  return newChannelAttributes(known);
}

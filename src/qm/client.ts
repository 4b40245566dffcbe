/**
 * Application connections to a queue manager (an IBM MQ "hconn" reached through a queue
 * manager, not the controller): `qm.connect()` in the thread that started it, or
 * `connectQueueManager({ port })` from anywhere over TCP. The operations are the embedded
 * session's (put / get / browse / commit / backout / prepare …), in the queue manager's
 * personality: `MqConnection` speaks MQMDs and bytes, `JmsConnection` JMS messages. Requests
 * are pipelined: many may be in flight on one connection.
 */
import { Errors, SanmqError } from '../errors.js';
import { ClientEndpoint } from '../protocol/endpoint.js';
import { FRAME_BYTES_MAX, PROTOCOL_VERSIONS, type Args } from '../protocol/frames.js';
import { dial, type DialOptions } from '../protocol/listener.js';
import type { Transport } from '../protocol/transport.js';
import { propertiesFromWire, propertiesToWire } from '../protocol/values.js';
import type { Properties } from '../controller/codec.js';
import { encodeText } from './mq/convert.js';
import {
  decodeMqmd,
  defaultMqmd,
  encodeMqmd,
  integerEncoding,
  MQFMT_STRING,
  type Mqmd,
} from './mq/mqmd.js';
import type { MapBody } from './jms/map-body.js';

export interface ConnectOptions {
  /** mq: this connection's CCSID (default: the queue manager's). */
  ccsid?: number;
  /** mq: this connection's MQ encoding, 273 (big endian) or 546 (little). */
  encoding?: number;
  /** The listener's shared secret, when it has one. */
  secret?: string;
}

const MQ_GET_KEYS = ['syncpoint', 'waitMs', 'convert', 'ccsid', 'encoding', 'messageId',
  'correlationId', 'selector'];

/** Options are checked here as everywhere in the API: an unknown one is refused, not ignored. */
function known(options: object, keys: readonly string[], what: string): void {
  if (typeof options !== 'object' || options === null) {
    throw Errors.invalidArgument(`${what} options must be an object`);
  }
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) throw Errors.invalidArgument(`${what} has no option '${key}'`);
  }
}

/** What every connection does, whatever the personality. */
export class ApplicationConnection {
  readonly queueManager: string;
  readonly personality: string;
  protected readonly endpoint: ClientEndpoint;

  constructor(endpoint: ClientEndpoint, hello: Args) {
    this.endpoint = endpoint;
    this.queueManager = String(hello['name']);
    this.personality = String(hello['personality']);
  }

  get closed(): boolean {
    return this.endpoint.isClosed;
  }

  protected request(op: string, args: Args): Promise<unknown> {
    return this.endpoint.request(op, args);
  }

  /** Opens a queue for input, shared or exclusive. */
  async open(queue: string, input: 'shared' | 'exclusive' = 'shared'): Promise<void> {
    await this.request('open', { queue, input });
  }

  async closeQueue(queue: string): Promise<void> {
    await this.request('close', { queue });
  }

  async commit(): Promise<void> {
    await this.request('commit', {});
  }

  async backout(): Promise<void> {
    await this.request('backout', {});
  }

  /** Phase one of two-phase commit; the controller then owns the unit (resolve by xid). */
  async prepare(xid: string): Promise<void> {
    await this.request('prepare', { xid });
  }

  /** The queue's attributes and depth (MQINQ). */
  async inquire(queue: string): Promise<Record<string, unknown>> {
    return await this.request('inquire', { queue }) as Record<string, unknown>;
  }

  /** Ends the connection; the queue manager backs out its open unit of work. */
  close(): void {
    this.endpoint.close();
  }
}

/** A browse cursor over the protocol. */
export class RemoteCursor<M> {
  readonly #connection: { request(op: string, args: Args): Promise<unknown> };
  readonly #cursor: number;
  readonly #read: (reply: Args) => M;
  readonly #extra: Args;

  constructor(connection: { request(op: string, args: Args): Promise<unknown> }, cursor: number,
    read: (reply: Args) => M, extra: Args) {
    this.#connection = connection;
    this.#cursor = cursor;
    this.#read = read;
    this.#extra = extra;
  }

  async first(): Promise<M> {
    return this.#read(await this.#connection.request('browse.next',
      { ...this.#extra, cursor: this.#cursor, first: true }) as Args);
  }

  async next(): Promise<M> {
    return this.#read(await this.#connection.request('browse.next',
      { ...this.#extra, cursor: this.#cursor }) as Args);
  }

  async close(): Promise<void> {
    await this.#connection.request('browse.close', { cursor: this.#cursor });
  }
}

export interface MqPutMessage {
  /** Any MQMD fields; the rest take MQMD_DEFAULT's values. */
  descriptor?: Partial<Mqmd>;
  /** A string is encoded in the connection's CCSID, with Format MQSTR unless one is given. */
  body: Uint8Array | string;
  properties?: Properties;
}

export interface MqGetOptions {
  syncpoint?: boolean;
  waitMs?: number;
  /** MQGMO_CONVERT: translate a character body to `ccsid` (default: the connection's). */
  convert?: boolean;
  ccsid?: number;
  encoding?: number;
  messageId?: Uint8Array;
  correlationId?: Uint8Array;
  /** A message selector (IBM MQ's selection string: the JMS grammar). */
  selector?: string;
}

export interface MqMessage {
  descriptor: Mqmd;
  body: Buffer;
  properties: Properties;
  /** 'W_NOT_CONVERTED' when a conversion asked for could not be done (see `reason`). */
  warning: string | undefined;
  /** IBM MQ's reason code for the warning (2119 MQRC_NOT_CONVERTED, 2110 …). */
  reason: number | undefined;
}

export class MqConnection extends ApplicationConnection {
  readonly ccsid: number;
  readonly encoding: number;

  constructor(endpoint: ClientEndpoint, hello: Args) {
    super(endpoint, hello);
    this.ccsid = Number(hello['ccsid']);
    this.encoding = Number(hello['encoding']);
  }

  get #integers(): 'big' | 'little' {
    return integerEncoding(this.encoding) as 'big' | 'little';
  }

  /** MQPUT: resolves with the MQMD as put (message id, put date and time filled in). */
  async put(queue: string, message: MqPutMessage, options: { syncpoint?: boolean } = {}):
  Promise<Mqmd> {
    // MQENC_NATIVE of this connection's platform, unless the MQMD says otherwise.
    const md = { ...defaultMqmd(), encoding: this.encoding, ...message.descriptor };
    let body = message.body;
    if (typeof body === 'string') {
      const ccsid = md.codedCharSetId === 0 ? this.ccsid : md.codedCharSetId;
      const encoded = encodeText(body, ccsid);
      if (encoded === undefined) {
        throw Errors.invalidArgument(`the body has characters without a code in CCSID ${ccsid}`);
      }
      body = encoded;
      if (message.descriptor?.format === undefined) md.format = MQFMT_STRING;
    }
    const reply = await this.request('put', {
      queue, md: encodeMqmd(md, this.#integers, this.ccsid), body,
      properties: propertiesToWire(message.properties ?? {}), syncpoint: options.syncpoint ?? false,
    }) as Args;
    return decodeMqmd(reply['md'] as Uint8Array, this.#integers, this.ccsid);
  }

  /** MQGET. */
  async get(queue: string, options: MqGetOptions = {}): Promise<MqMessage> {
    known(options, MQ_GET_KEYS, 'get');
    return this.#message(await this.request('get', { queue, ...options }) as Args);
  }

  /** A browse cursor (MQGMO_BROWSE_FIRST / BROWSE_NEXT). */
  async browse(queue: string, options: Omit<MqGetOptions, 'syncpoint' | 'waitMs'> = {}):
  Promise<RemoteCursor<MqMessage>> {
    known(options, MQ_GET_KEYS.filter((key) => key !== 'syncpoint' && key !== 'waitMs'), 'browse');
    const { convert, ccsid, encoding, ...selection } = options;
    const reply = await this.request('browse.open', { queue, ...selection }) as Args;
    const extra: Args = { convert, ccsid, encoding };
    return new RemoteCursor(this.endpoint, reply['cursor'] as number,
      (message) => this.#message(message), extra);
  }

  #message(reply: Args): MqMessage {
    return {
      descriptor: decodeMqmd(reply['md'] as Uint8Array, this.#integers, this.ccsid),
      body: Buffer.from(reply['body'] as Uint8Array),
      properties: propertiesFromWire(reply['properties']),
      warning: typeof reply['warning'] === 'string' ? reply['warning'] : undefined,
      reason: typeof reply['reason'] === 'number' ? reply['reason'] : undefined,
    };
  }
}

export type JmsBody =
  | { type: 'text'; text: string }
  | { type: 'bytes'; bytes: Uint8Array }
  | { type: 'map'; map: MapBody };

export type JmsMessageInput = JmsBody & {
  properties?: Properties;
  correlationId?: string;
  /** queue:///Q, queue://QM/Q or a queue name. */
  replyTo?: string;
  jmsType?: string;
  priority?: number;
  deliveryMode?: 'PERSISTENT' | 'NON_PERSISTENT';
  /** Milliseconds; 0 or absent: never expires. */
  timeToLive?: number;
};

export type JmsMessage = JmsBody & {
  messageId: string;
  correlationId: string | null;
  replyTo: string | null;
  jmsType: string | null;
  priority: number;
  deliveryMode: 'PERSISTENT' | 'NON_PERSISTENT';
  timestamp: number;
  expiration: number;
  redelivered: boolean;
  /** User properties, with the JMSX and JMS_IBM_ properties the provider sets. */
  properties: Properties;
  warning: string | undefined;
};

export class JmsConnection extends ApplicationConnection {
  /** Sends a message; resolves with its JMSMessageID and JMSTimestamp. */
  async put(queue: string, message: JmsMessageInput, options: { syncpoint?: boolean } = {}):
  Promise<{ messageId: string; timestamp: number }> {
    const wire: Args = { ...message, properties: propertiesToWire(message.properties ?? {}) };
    if (message.type === 'map') wire['map'] = propertiesToWire(message.map);
    const reply = await this.request('put', { queue, message: wire,
      syncpoint: options.syncpoint ?? false }) as Args;
    return { messageId: String(reply['messageId']), timestamp: Number(reply['timestamp']) };
  }

  /** Receives a message, with a selector if given. */
  async get(queue: string, options: { selector?: string; waitMs?: number; syncpoint?: boolean } = {}):
  Promise<JmsMessage> {
    known(options, ['selector', 'waitMs', 'syncpoint'], 'get');
    return jmsMessage(await this.request('get', { queue, ...options }) as Args);
  }

  async browse(queue: string, options: { selector?: string } = {}):
  Promise<RemoteCursor<JmsMessage>> {
    known(options, ['selector'], 'browse');
    const reply = await this.request('browse.open', { queue, ...options }) as Args;
    return new RemoteCursor(this.endpoint, reply['cursor'] as number, jmsMessage, {});
  }
}

function jmsMessage(reply: Args): JmsMessage {
  const headers = {
    messageId: String(reply['messageId']),
    correlationId: typeof reply['correlationId'] === 'string' ? reply['correlationId'] : null,
    replyTo: typeof reply['replyTo'] === 'string' ? reply['replyTo'] : null,
    jmsType: typeof reply['jmsType'] === 'string' ? reply['jmsType'] : null,
    priority: Number(reply['priority']),
    deliveryMode: reply['deliveryMode'] === 'NON_PERSISTENT' ? 'NON_PERSISTENT' as const
      : 'PERSISTENT' as const,
    timestamp: Number(reply['timestamp']),
    expiration: Number(reply['expiration']),
    redelivered: reply['redelivered'] === true,
    properties: propertiesFromWire(reply['properties']),
    warning: typeof reply['warning'] === 'string' ? reply['warning'] : undefined,
  };
  if (reply['type'] === 'text') return { ...headers, type: 'text', text: String(reply['text']) };
  if (reply['type'] === 'map') {
    return { ...headers, type: 'map', map: propertiesFromWire(reply['map']) as MapBody };
  }
  return { ...headers, type: 'bytes', bytes: Buffer.from(reply['bytes'] as Uint8Array) };
}

/** Says hello on a transport and returns the connection of the queue manager's personality. */
export async function openConnection(transport: Transport, options: ConnectOptions = {}):
Promise<MqConnection | JmsConnection> {
  const endpoint = new ClientEndpoint(transport, FRAME_BYTES_MAX * 4);
  let hello: Args;
  try {
    hello = await endpoint.hello({ versions: [...PROTOCOL_VERSIONS], role: 'application',
      ...(options.ccsid === undefined ? {} : { ccsid: options.ccsid }),
      ...(options.encoding === undefined ? {} : { encoding: options.encoding }),
      ...(options.secret === undefined ? {} : { secret: options.secret }) });
  } catch (error) {
    endpoint.destroy();
    throw error instanceof SanmqError ? error : Errors.internal(String(error));
  }
  return hello['personality'] === 'mq' ? new MqConnection(endpoint, hello)
    : new JmsConnection(endpoint, hello);
}

/** Connects to a queue manager's TCP listener (in this process or any other). */
export async function connectQueueManager(options: DialOptions & ConnectOptions):
Promise<MqConnection | JmsConnection> {
  return openConnection(await dial(options), options);
}

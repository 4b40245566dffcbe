/**
 * What makes queue managers heterogeneous: a personality maps what its applications put and
 * get (an MQMD and bytes for `mq`; typed JMS messages for `jms`) to the controller's neutral
 * message and back. The queue manager's runtime does everything else the same way for all
 * personalities: sessions, units of work, browse cursors, the protocol.
 */
import type { Args } from '../protocol/frames.js';
import type { WireMessage } from '../protocol/messages.js';

/** A queue manager's own settings, as its personality sees them. */
export interface QueueManagerSettings {
  name: string;
  /** The coded character set of the queue manager (mq; jms: 1208). */
  ccsid: number;
  /** MQMD Encoding of its integers: 273 big endian, 546 little endian. */
  encoding: number;
}

/** The controller's put: which queue, the neutral message, under syncpoint or not. */
export interface NeutralPut {
  queue: string;
  message: Args;
  syncpoint: boolean;
}

export interface PutOutcome {
  messageId: Buffer;
  correlationId: Buffer;
  putTime: number;
}

/** One application connection's view through a personality. */
export interface PersonalityConnection {
  /** Fields the personality adds to the hello reply (the connection's CCSID…). */
  readonly hello: Args;
  /** An application's put, as the controller's. */
  put(args: Args): NeutralPut;
  /** The controller's answer to a put, as the application's. */
  putResult(outcome: PutOutcome, put: NeutralPut, args: Args): Args;
  /** An application's get or browse: the controller's match and selector arguments. */
  select(args: Args): Args;
  /** A gotten or browsed message, as the application receives it. */
  gotten(message: WireMessage, args: Args): Args;
}

export interface Personality {
  readonly name: string;
  /** Reads an application's hello (its own CCSID, encoding…) for one connection. */
  connect(hello: Args, settings: QueueManagerSettings): PersonalityConnection;
}

/** MQMD Format of a string body (MQFMT_STRING): character data, converted on get. */
export const FORMAT_STRING = 'MQSTR';
/** MQMD Format of a JMS map body (XML, as IBM MQ's jms_map): character data too. */
export const FORMAT_MAP = 'SANMQMAP';
/** Formats whose bodies are character data in the message's CCSID. */
export const CHARACTER_FORMATS: ReadonlySet<string> = new Set([FORMAT_STRING, FORMAT_MAP]);

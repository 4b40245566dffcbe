/**
 * A stored message as it travels between the controller and its queue managers: the
 * controller's neutral form (docs/PROTOCOL.md, "Messages"), which each personality maps to
 * and from what its applications see. Bodies and ids are MessagePack bin; between threads
 * they arrive as views of the transferred batch, and are copied only where they are kept.
 */
import type { DeadLetterHeader } from '../controller/codec.js';
import type { Descriptor } from '../controller/descriptor.js';
import type { Message, PutResult } from '../controller/session.js';
import type { MessageInput } from '../controller/validation.js';
import type { Args } from './frames.js';
import {
  bytes,
  optionalFlag,
  optionalInteger,
  optionalMap,
  optionalText,
  propertiesFromWire,
  propertiesToWire,
} from './values.js';

/**
 * A time in milliseconds as a MessagePack integer: msgpackr writes a JavaScript number beyond
 * 32 bits as a float64, which other languages would read as a float.
 */
export function wholeTime(ms: number): bigint {
  return BigInt(Math.trunc(ms));
}

/** The neutral message a get returns, as the controller sends it. */
export function messageToWire(message: Message): Args {
  const wire: Args = {
    body: message.body,
    messageId: message.messageId,
    correlationId: message.correlationId,
    priority: message.priority,
    persistent: message.persistent,
    expiry: message.expiry,
    putTime: wholeTime(message.putTime.getTime()),
    backoutCount: message.backoutCount,
    replyToQueue: message.replyToQueue,
    replyToQueueManager: message.replyToQueueManager,
    format: message.format,
    properties: propertiesToWire(message.properties),
  };
  if (message.deadLetter !== undefined) {
    wire['deadLetter'] = { ...message.deadLetter, movedAt: wholeTime(message.deadLetter.movedAt) };
  }
  if (message.descriptor !== undefined) wire['descriptor'] = { ...message.descriptor };
  return wire;
}

/** A gotten message as a queue manager reads it from the controller's reply. */
export interface WireMessage extends Omit<Message, 'putTime' | 'queue'> {
  putTime: number;
}

export function messageFromWire(value: unknown): WireMessage {
  if (typeof value !== 'object' || value === null) throw new TypeError('a message is a map');
  const wire = value as Args;
  const deadLetter = optionalMap(wire, 'deadLetter');
  const descriptor = optionalMap(wire, 'descriptor');
  return {
    body: Buffer.from(bytes(wire, 'body')),
    messageId: Buffer.from(bytes(wire, 'messageId')),
    correlationId: Buffer.from(bytes(wire, 'correlationId')),
    priority: optionalInteger(wire, 'priority') ?? 0,
    persistent: optionalFlag(wire, 'persistent') ?? false,
    expiry: optionalInteger(wire, 'expiry') ?? -1,
    putTime: optionalInteger(wire, 'putTime') ?? 0,
    backoutCount: optionalInteger(wire, 'backoutCount') ?? 0,
    replyToQueue: optionalText(wire, 'replyToQueue') ?? '',
    replyToQueueManager: optionalText(wire, 'replyToQueueManager') ?? '',
    format: optionalText(wire, 'format') ?? '',
    properties: propertiesFromWire(wire['properties']),
    deadLetter: deadLetter as DeadLetterHeader | undefined,
    descriptor: descriptor === undefined ? undefined : descriptorFromWire(descriptor),
  };
}

function descriptorFromWire(wire: Args): Descriptor {
  const copy = { ...wire } as Record<string, unknown>;
  for (const key of ['accountingToken', 'groupId']) {
    const value = copy[key];
    if (value instanceof Uint8Array) copy[key] = Buffer.from(value);
  }
  return copy as unknown as Descriptor;
}

/** A message to put, as a queue manager sends it (the controller validates every field). */
export function inputToWire(input: MessageInput): Args {
  const wire: Args = { ...input };
  if (input.properties !== undefined) wire['properties'] = propertiesToWire(input.properties);
  return wire;
}

/** The controller's reading of a put's message: properties untyped back, the rest as sent. */
export function inputFromWire(wire: Args): MessageInput {
  const input = { ...wire } as Record<string, unknown>;
  if (wire['properties'] !== undefined) input['properties'] = propertiesFromWire(wire['properties']);
  for (const key of Object.keys(input)) if (input[key] === null) delete input[key];
  const descriptor = input['descriptor'];
  if (descriptor !== undefined && typeof descriptor === 'object' && descriptor !== null) {
    const fields = { ...descriptor } as Record<string, unknown>;
    for (const key of Object.keys(fields)) if (fields[key] === null) delete fields[key];
    input['descriptor'] = fields;
  }
  return input as unknown as MessageInput;
}

export function putResultToWire(result: PutResult): Args {
  return { messageId: result.messageId, correlationId: result.correlationId,
    putTime: wholeTime(result.putTime.getTime()) };
}

export function putResultFromWire(value: unknown): { messageId: Buffer; correlationId: Buffer;
  putTime: number; } {
  const wire = value as Args;
  return { messageId: Buffer.from(bytes(wire, 'messageId')),
    correlationId: Buffer.from(bytes(wire, 'correlationId')),
    putTime: optionalInteger(wire, 'putTime') ?? 0 };
}


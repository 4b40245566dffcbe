/**
 * The channel protocol between a sender and a receiver message channel agent: the frames of
 * docs/PROTOCOL.md over TCP, the sender as client. The hello names the channel and the
 * sending queue manager; the receiver's reply carries the sequence number of the last batch
 * it committed, from which the sender resolves its in-doubt batch (resynchronisation). Then:
 *   batch {sequence, messages}  → {sequence}  the receiver committed the batch
 *   heartbeat {}                → {}          the link and the receiver are alive
 *   end {}                      → {}          the sender stops the channel
 * A message travels whole: body, ids, descriptor and properties, its destination in the
 * transmission header properties below, which the receiver removes.
 */
import { Errors } from '../errors.js';
import type { Args } from '../protocol/frames.js';
import { inputFromWire, inputToWire, type WireMessage } from '../protocol/messages.js';
import type { Properties } from '../controller/codec.js';
import type { MessageInput } from '../controller/validation.js';

export const CHANNEL_OPS: ReadonlySet<string> = new Set(['batch', 'heartbeat', 'end']);
/** The transmission header: the destination queue (and queue manager) of a message. */
export const XQ_QUEUE = 'sanmq.xq.queue';
export const XQ_QUEUE_MANAGER = 'sanmq.xq.queueManager';
/** Longest wait for the receiver's answer to a batch or heartbeat before the link is failed. */
export const REPLY_TIMEOUT_MS = 30_000;

/** A message taken from a transmission queue, as it crosses the channel. */
export function toChannel(message: WireMessage): Args {
  const input: MessageInput = {
    body: message.body, messageId: message.messageId, correlationId: message.correlationId,
    priority: message.priority, persistent: message.persistent, expiry: message.expiry,
    replyToQueue: message.replyToQueue, replyToQueueManager: message.replyToQueueManager,
    format: message.format, properties: message.properties,
  };
  if (message.descriptor !== undefined) input.descriptor = message.descriptor;
  return inputToWire(input);
}

/** The receiver's reading of a channel message: where it goes, and what to put there. */
export function fromChannel(wire: unknown): { queue: string; message: MessageInput } {
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) {
    throw Errors.invalidArgument('a channel message must be a map');
  }
  const message = inputFromWire(wire as Args);
  const properties: Properties = { ...(message.properties ?? {}) };
  const queue = properties[XQ_QUEUE];
  if (typeof queue !== 'string' || queue === '') {
    throw Errors.invalidArgument(`a channel message must name its destination in property ${XQ_QUEUE}`);
  }
  delete properties[XQ_QUEUE];
  delete properties[XQ_QUEUE_MANAGER];
  message.properties = properties;
  return { queue, message };
}

/**
 * A message as `sanmq get` and `sanmq browse` show it: like IBM MQ's amqsbcg, the descriptor's
 * fields, then the body as offset, hex and characters, 16 bytes a line; or the same as JSON.
 */
import type { JmsMessage, MqMessage } from '../qm/client.js';

type Shown = Record<string, unknown>;

function hexDump(body: Buffer): string {
  const lines: string[] = [];
  for (let at = 0; at < body.length; at += 16) {
    const slice = body.subarray(at, at + 16);
    const hex = [...slice].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = [...slice].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}:  ${hex.padEnd(48)}  '${text}'`);
  }
  return lines.join('\n');
}

function isMq(message: MqMessage | JmsMessage): message is MqMessage {
  return 'descriptor' in message && Buffer.isBuffer((message as MqMessage).body);
}

/** Prints a message (returns undefined) or, with `json`, returns it as plain data. */
export function printMessage(message: MqMessage | JmsMessage, json: true): Shown;
export function printMessage(message: MqMessage | JmsMessage, json: false, index?: number): undefined;
export function printMessage(message: MqMessage | JmsMessage, json: boolean, index?: number): Shown | undefined {
  let fields: Shown;
  let body: Buffer;
  if (isMq(message)) {
    const md = message.descriptor;
    fields = { MsgId: md.msgId.toString('hex'), CorrelId: md.correlId.toString('hex'), Format: md.format,
      CodedCharSetId: md.codedCharSetId, Encoding: md.encoding, Priority: md.priority,
      Persistence: md.persistence, BackoutCount: md.backoutCount, ReplyToQ: md.replyToQ,
      PutApplName: md.putApplName, PutDate: md.putDate, PutTime: md.putTime, Expiry: md.expiry };
    body = message.body;
  } else {
    fields = { JMSMessageID: message.messageId, JMSCorrelationID: message.correlationId,
      JMSDeliveryMode: message.deliveryMode, JMSPriority: message.priority,
      JMSTimestamp: message.timestamp, JMSType: message.jmsType, type: message.type };
    body = message.type === 'text' ? Buffer.from(message.text ?? '')
      : message.type === 'bytes' ? Buffer.from(message.bytes) : Buffer.from(JSON.stringify(
        message.type === 'map' ? message.map : {}, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  }
  const properties = Object.fromEntries(Object.entries(message.properties).map(([k, v]) =>
    [k, typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]));
  if (json) return { ...fields, properties, length: body.length, text: body.toString('utf8'), hex: body.toString('hex') };
  if (index !== undefined) process.stdout.write(`\n**** Message ${index} ****\n`);
  const width = Math.max(...Object.keys(fields).map((k) => k.length));
  for (const [key, value] of Object.entries(fields)) {
    process.stdout.write(`  ${key.padEnd(width)} : ${String(value)}\n`);
  }
  for (const [key, value] of Object.entries(properties)) process.stdout.write(`  property ${key} : ${String(value)}\n`);
  process.stdout.write(`  length ${body.length} bytes\n${hexDump(body)}\n`);
  return undefined;
}

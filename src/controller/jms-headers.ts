/**
 * The JMS names of a stored message's fields: what a message selector's identifiers resolve
 * to when the controller evaluates it on get, and what the jms personality shows its
 * applications. One table for both, so a selector sees exactly the headers a JMS receiver
 * does (docs/PERSONALITIES.md lists the mapping).
 */
import { isZeroId, type MessageFields, type Properties } from './codec.js';
import { defaultDescriptor, type Descriptor } from './descriptor.js';
import type { SelectorLookup, SelectorValue } from './selector.js';

/** The property that keeps a JMSCorrelationID that is not an 'ID:' form whole. */
export const CORRELATION_PROPERTY = 'JMSCorrelationID';
/** JMSType has no MQMD field: it travels as a property of this name (JMS reserves it). */
export const TYPE_PROPERTY = 'JMSType';

/** 'ID:' and 48 hex digits: how JMS shows a 24-byte message or correlation id. */
export function idString(id: Uint8Array): string {
  return `ID:${Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex')}`;
}

/** The JMSCorrelationID of a message: its own string when one was put, else the id form. */
export function correlationString(correlationId: Uint8Array,
  properties: MessageFields['properties']): string | null {
  const kept = properties[CORRELATION_PROPERTY];
  if (typeof kept === 'string') return kept;
  return isZeroId(correlationId) ? null : idString(correlationId);
}

/** What a stored message is, seen through its JMS names. */
export interface HeaderSource {
  fields: MessageFields;
  persistent: boolean;
  backoutCount: number;
}

type Header = (source: HeaderSource) => SelectorValue;

/** JMS header fields. */
const HEADERS = new Map<string, Header>(Object.entries({
  JMSDeliveryMode: (s) => (s.persistent ? 'PERSISTENT' : 'NON_PERSISTENT'),
  JMSPriority: (s) => BigInt(s.fields.priority),
  JMSMessageID: (s) => idString(s.fields.messageId),
  JMSCorrelationID: (s) => correlationString(s.fields.correlationId, s.fields.properties),
  JMSTimestamp: (s) => BigInt(s.fields.putTime),
  JMSExpiration: (s) => BigInt(s.fields.expiresAt),
  JMSRedelivered: (s) => s.backoutCount > 0,
} satisfies Record<string, Header>));

/** What the provider properties are made of. */
export interface ProviderSource {
  format: string;
  descriptor: Descriptor | undefined;
  backoutCount: number;
}

type Provider = (source: ProviderSource, d: Descriptor) => SelectorValue;

/** JMSX properties and IBM's JMS_IBM_ names for MQMD fields, set by the provider. */
const PROVIDER = new Map<string, Provider>(Object.entries({
  JMSXDeliveryCount: (s) => BigInt(s.backoutCount + 1),
  JMSXUserID: (_, d) => d.userId,
  JMSXAppID: (_, d) => d.putApplName,
  JMSXGroupID: (_, d) => (isZeroId(d.groupId) ? null : idString(d.groupId)),
  JMSXGroupSeq: (_, d) => BigInt(d.sequenceNumber),
  JMS_IBM_Format: (s) => s.format,
  JMS_IBM_Character_Set: (_, d) => BigInt(d.ccsid),
  JMS_IBM_Encoding: (_, d) => BigInt(d.encoding),
  JMS_IBM_MsgType: (_, d) => BigInt(d.messageType),
  JMS_IBM_Feedback: (_, d) => BigInt(d.feedback),
  JMS_IBM_Report: (_, d) => BigInt(d.report),
  JMS_IBM_PutApplType: (_, d) => BigInt(d.putApplType),
} satisfies Record<string, Provider>));

/** The provider properties a JMS receiver sees (those with a value). */
export function providerProperties(source: ProviderSource): Properties {
  const d = source.descriptor ?? defaultDescriptor();
  const result: Properties = {};
  for (const [name, provider] of PROVIDER) {
    const value = provider(source, d);
    if (value !== null) result[name] = value;
  }
  return result;
}

/** A selector lookup over a stored message: header names first, then its properties. */
export function headerLookup(source: HeaderSource): SelectorLookup {
  return (identifier) => {
    const header = HEADERS.get(identifier);
    if (header !== undefined) return header(source);
    const provider = PROVIDER.get(identifier);
    if (provider !== undefined) {
      return provider({ format: source.fields.format, descriptor: source.fields.descriptor,
        backoutCount: source.backoutCount }, source.fields.descriptor ?? defaultDescriptor());
    }
    const value = Object.hasOwn(source.fields.properties, identifier)
      ? source.fields.properties[identifier] : undefined;
    // Byte-array properties have no selector type: a comparison with one is UNKNOWN.
    if (value === undefined || value instanceof Uint8Array) return null;
    return value;
  };
}

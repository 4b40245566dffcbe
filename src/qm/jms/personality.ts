/**
 * The `jms` personality: applications send and receive JMS messages (text, bytes and map
 * bodies, typed properties, the JMS header fields) and receive with message selectors, which
 * the controller evaluates. A JMS message is stored as IBM MQ's JMS stores one, so an `mq`
 * application reads it with an MQMD (text: MQSTR in UTF-8; bytes: MQFMT_NONE; map: XML), and
 * a message an `mq` application put reads as a JMS message here (docs/PERSONALITIES.md).
 */
import { ID_BYTES } from '../../controller/codec.js';
import { Errors } from '../../errors.js';
import {
  CORRELATION_PROPERTY,
  correlationString,
  idString,
  providerProperties,
  TYPE_PROPERTY,
} from '../../controller/jms-headers.js';
import type { Args } from '../../protocol/frames.js';
import { wholeTime, type WireMessage } from '../../protocol/messages.js';
import {
  map,
  optionalFlag,
  optionalInteger,
  optionalText,
  propertiesFromWire,
  propertiesToWire,
  text,
} from '../../protocol/values.js';
import { decodeText } from '../mq/convert.js';
import {
  FORMAT_MAP,
  FORMAT_STRING,
  type NeutralPut,
  type Personality,
  type PersonalityConnection,
  type PutOutcome,
} from '../personality.js';
import { decodeMapBody, encodeMapBody, type MapBody } from './map-body.js';

export const DELIVERY_PERSISTENT = 'PERSISTENT';
export const DELIVERY_NON_PERSISTENT = 'NON_PERSISTENT';
const ID_FORM = /^ID:[0-9a-fA-F]{48}$/;

/** JMSReplyTo as a queue URI: queue:///Q or queue://QM/Q (IBM MQ's form), or a plain name. */
export function parseReplyTo(value: string): { queue: string; queueManager: string } {
  const match = /^queue:\/\/([^/]*)\/(.+)$/.exec(value);
  if (match === null) return { queue: value, queueManager: '' };
  return { queueManager: match[1] as string, queue: match[2] as string };
}

function correlationBytes(value: string): Buffer {
  if (ID_FORM.test(value)) return Buffer.from(value.slice(3), 'hex');
  const bytes = Buffer.alloc(ID_BYTES);
  Buffer.from(value, 'utf8').copy(bytes, 0, 0, ID_BYTES);
  return bytes;
}

function body(message: Args): { bytes: Uint8Array; format: string } {
  switch (message['type'] ?? 'bytes') {
    case 'text':
      return { bytes: Buffer.from(optionalText(message, 'text') ?? '', 'utf8'), format: FORMAT_STRING };
    case 'map':
      return { bytes: Buffer.from(encodeMapBody(mapFromWire(message['map'])), 'utf8'),
        format: FORMAT_MAP };
    case 'bytes': {
      const bytes = message['bytes'] ?? new Uint8Array(0);
      if (!(bytes instanceof Uint8Array)) throw Errors.invalidArgument('message.bytes must be bytes');
      return { bytes, format: '' };
    }
    default:
      throw Errors.invalidArgument("message.type must be 'text', 'bytes' or 'map'");
  }
}

/** Map bodies travel typed, as properties do. */
function mapFromWire(value: unknown): MapBody {
  return propertiesFromWire(value) as MapBody;
}

class JmsConnection implements PersonalityConnection {
  readonly hello: Args = {};

  put(args: Args): NeutralPut {
    const m = map(args, 'message');
    const { bytes, format } = body(m);
    const properties = propertiesFromWire(m['properties']);
    for (const name of Object.keys(properties)) {
      if (name.startsWith('JMS')) {
        throw Errors.invalidArgument(`property name '${name}' is reserved (JMS, JMSX and JMS_ names)`);
      }
    }
    const message: Args = { body: bytes, format };
    const jmsType = optionalText(m, 'jmsType');
    if (jmsType !== undefined) properties[TYPE_PROPERTY] = jmsType;
    const correlationId = optionalText(m, 'correlationId');
    if (correlationId !== undefined) {
      message['correlationId'] = correlationBytes(correlationId);
      if (!ID_FORM.test(correlationId)) properties[CORRELATION_PROPERTY] = correlationId;
    }
    const replyTo = optionalText(m, 'replyTo');
    if (replyTo !== undefined) {
      const { queue, queueManager } = parseReplyTo(replyTo);
      message['replyToQueue'] = queue;
      message['replyToQueueManager'] = queueManager;
    }
    const priority = optionalInteger(m, 'priority');
    if (priority !== undefined) message['priority'] = priority;
    const mode = m['deliveryMode'] ?? DELIVERY_PERSISTENT;
    if (mode !== DELIVERY_PERSISTENT && mode !== DELIVERY_NON_PERSISTENT) {
      throw Errors.invalidArgument("message.deliveryMode must be 'PERSISTENT' or 'NON_PERSISTENT'");
    }
    message['persistent'] = mode === DELIVERY_PERSISTENT;
    const timeToLive = optionalInteger(m, 'timeToLive') ?? 0;
    if (timeToLive < 0) throw Errors.invalidArgument('message.timeToLive must be 0 (unlimited) or more');
    if (timeToLive > 0) message['expiry'] = Math.ceil(timeToLive / 100);
    message['properties'] = propertiesToWire(properties);
    return { queue: text(args, 'queue'), message, syncpoint: optionalFlag(args, 'syncpoint') ?? false };
  }

  putResult(outcome: PutOutcome): Args {
    return { messageId: idString(outcome.messageId), timestamp: wholeTime(outcome.putTime) };
  }

  select(args: Args): Args {
    const selector = optionalText(args, 'selector');
    return selector === undefined ? {} : { selector };
  }

  /** Never throws (the message may be gone from its queue): what cannot be read is bytes. */
  gotten(message: WireMessage): Args {
    try {
      return this.#gotten(message);
    } catch (error) {
      return { type: 'bytes', bytes: message.body, messageId: idString(message.messageId),
        correlationId: null, replyTo: null, jmsType: null, priority: message.priority,
        deliveryMode: message.persistent ? DELIVERY_PERSISTENT : DELIVERY_NON_PERSISTENT,
        timestamp: wholeTime(message.putTime), expiration: 0n,
        redelivered: message.backoutCount > 0, properties: {}, warning: 'W_NOT_CONVERTED',
        reason: 2119,
        detail: `the message could not be shown: ${(error as Error).message}` };
    }
  }

  #gotten(message: WireMessage): Args {
    const result: Args = {
      messageId: idString(message.messageId),
      correlationId: correlationString(message.correlationId, message.properties),
      replyTo: message.replyToQueue === '' ? null
        : `queue://${message.replyToQueueManager}/${message.replyToQueue}`,
      jmsType: typeof message.properties[TYPE_PROPERTY] === 'string'
        ? message.properties[TYPE_PROPERTY] : null,
      priority: message.priority,
      deliveryMode: message.persistent ? DELIVERY_PERSISTENT : DELIVERY_NON_PERSISTENT,
      timestamp: wholeTime(message.putTime),
      expiration: wholeTime(message.expiry === -1 ? 0 : Date.now() + message.expiry * 100),
      redelivered: message.backoutCount > 0,
    };
    const properties = { ...message.properties };
    delete properties[TYPE_PROPERTY];
    delete properties[CORRELATION_PROPERTY];
    Object.assign(properties, providerProperties({ format: message.format,
      descriptor: message.descriptor, backoutCount: message.backoutCount }));
    result['properties'] = propertiesToWire(properties);
    Object.assign(result, this.#body(message));
    return result;
  }

  #body(message: WireMessage): Args {
    const format = message.format.trimEnd();
    if (format !== FORMAT_STRING && format !== FORMAT_MAP) {
      return { type: 'bytes', bytes: message.body };
    }
    const decoded = decodeText(message.body, message.descriptor?.ccsid ?? 1208);
    if (decoded === undefined) {
      return { type: 'bytes', bytes: message.body, warning: 'W_NOT_CONVERTED', reason: 2119,
        detail: `the body is not text in CCSID ${message.descriptor?.ccsid ?? 1208}` };
    }
    if (format === FORMAT_STRING) return { type: 'text', text: decoded };
    try {
      return { type: 'map', map: propertiesToWire(decodeMapBody(decoded)) };
    } catch (error) {
      return { type: 'bytes', bytes: message.body, warning: 'W_NOT_CONVERTED', reason: 2110,
        detail: (error as Error).message };
    }
  }
}

export const jms: Personality = {
  name: 'jms',
  connect: () => new JmsConnection(),
};

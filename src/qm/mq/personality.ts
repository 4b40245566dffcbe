/**
 * The `mq` personality: applications put and get an MQMD (binary, version 2) and bytes, as
 * the MQI's MQPUT and MQGET do. Each connection has a coded character set and an integer
 * encoding (its queue manager's unless its hello names its own): the MQMD it sends is read in
 * them and the MQMD it gets back is written in them. A get with `convert` translates a
 * character body (MQSTR) to the getter's CCSID, or to the CCSID the get names; what cannot
 * be converted comes back as it was, with the warning W_NOT_CONVERTED and IBM MQ's reason.
 * The descriptor fields the controller has no place for travel in its descriptor block.
 */
import { isZeroId } from '../../controller/codec.js';
import { Errors } from '../../errors.js';
import type { Args } from '../../protocol/frames.js';
import type { WireMessage } from '../../protocol/messages.js';
import {
  optionalBytes,
  optionalFlag,
  optionalInteger,
  propertiesToWire,
  text,
} from '../../protocol/values.js';
import {
  CHARACTER_FORMATS,
  type NeutralPut,
  type Personality,
  type PersonalityConnection,
  type PutOutcome,
  type QueueManagerSettings,
} from '../personality.js';
import {
  convertText,
  encodeField,
  encodeText,
  isSupportedCcsid,
  MQRC_FORMAT_ERROR,
} from './convert.js';
import {
  decodeMqmd,
  defaultMqmd,
  encodeMqmd,
  integerEncoding,
  MQCCSI_Q_MGR,
  MQFMT_NONE,
  MQPER_NOT_PERSISTENT,
  MQPER_PERSISTENCE_AS_Q_DEF,
  MQPER_PERSISTENT,
  MQPRI_PRIORITY_AS_Q_DEF,
  putDateTime,
  type Mqmd,
} from './mqmd.js';

export const WARNING_NOT_CONVERTED = 'W_NOT_CONVERTED';

/** Where put() fills in the application's MQMD (IBM's offsets; mqmd.ts has them all). */
const MQMD_CCSID_AT = 28;
const MQMD_MSG_ID_AT = 48;
const MQMD_CORREL_ID_AT = 72;
const MQMD_PUT_DATE_AT = 304;
const MQMD_PUT_TIME_AT = 312;

/** The MQMD's character fields and their widths in bytes. */
const TEXT_FIELD_WIDTHS = [['replyToQ', 48], ['replyToQMgr', 48], ['userIdentifier', 12],
  ['applIdentityData', 32], ['putApplName', 28], ['applOriginData', 4], ['format', 8]] as const;

/** A connection's character set and encoding, checked. */
export function checkCodes(ccsid: number, encoding: number, what: string): { ccsid: number; encoding: number } {
  if (!isSupportedCcsid(ccsid)) {
    throw Errors.invalidArgument(`${what} CCSID ${ccsid} is not supported`);
  }
  if (integerEncoding(encoding) === undefined) {
    throw Errors.invalidArgument(`${what} encoding ${encoding} names no integer byte order ` +
      '(273 big endian, 546 little endian)');
  }
  return { ccsid, encoding };
}


class MqConnection implements PersonalityConnection {
  readonly hello: Args;
  readonly #ccsid: number;
  readonly #encoding: number;

  constructor(hello: Args, settings: QueueManagerSettings) {
    const own = checkCodes(optionalInteger(hello, 'ccsid') ?? settings.ccsid,
      optionalInteger(hello, 'encoding') ?? settings.encoding, 'the connection\'s');
    this.#ccsid = own.ccsid;
    this.#encoding = own.encoding;
    this.hello = { ccsid: this.#ccsid, encoding: this.#encoding };
  }

  #integers(): 'big' | 'little' {
    return integerEncoding(this.#encoding) as 'big' | 'little';
  }

  put(args: Args): NeutralPut {
    const bytes = optionalBytes(args, 'md');
    if (bytes === undefined) throw Errors.invalidArgument('md (the binary MQMD) is required');
    const body = optionalBytes(args, 'body') ?? new Uint8Array(0);
    const md = decodeMqmd(bytes, this.#integers(), this.#ccsid);
    const message: Args = {
      body,
      correlationId: md.correlId,
      replyToQueue: md.replyToQ,
      replyToQueueManager: md.replyToQMgr,
      format: md.format,
      properties: args['properties'] ?? {},
      descriptor: {
        ccsid: md.codedCharSetId === MQCCSI_Q_MGR ? this.#ccsid : md.codedCharSetId,
        encoding: md.encoding, messageType: md.msgType, feedback: md.feedback, report: md.report,
        userId: md.userIdentifier, applIdentity: md.applIdentityData,
        putApplType: md.putApplType, putApplName: md.putApplName, applOrigin: md.applOriginData,
        accountingToken: md.accountingToken, groupId: md.groupId,
        sequenceNumber: md.msgSeqNumber, offset: md.offset, messageFlags: md.msgFlags,
        originalLength: md.originalLength,
      },
    };
    // MQMI_NONE asks for a new message id (MQPMO_NEW_MSG_ID): the controller makes one.
    if (!isZeroId(md.msgId)) message['messageId'] = md.msgId;
    if (md.priority !== MQPRI_PRIORITY_AS_Q_DEF) message['priority'] = md.priority;
    if (md.persistence !== MQPER_PERSISTENCE_AS_Q_DEF) {
      if (md.persistence !== MQPER_PERSISTENT && md.persistence !== MQPER_NOT_PERSISTENT) {
        throw Errors.invalidArgument(`MQMD Persistence ${md.persistence} is not 0, 1 or 2`);
      }
      message['persistent'] = md.persistence === MQPER_PERSISTENT;
    }
    if (md.expiry !== -1) message['expiry'] = md.expiry;
    return { queue: text(args, 'queue'), message,
      syncpoint: optionalFlag(args, 'syncpoint') ?? false };
  }

  /**
   * The MQMD as put: the application's own bytes (read and checked by put()) with the fields
   * the put fills in written over them, MsgId, CorrelId, PutDate, PutTime and CodedCharSetId;
   * no second decode and encode of the whole structure.
   */
  putResult(outcome: PutOutcome, put: NeutralPut, args: Args): Args {
    const md = Buffer.from(args['md'] as Uint8Array);
    md.set(outcome.messageId, MQMD_MSG_ID_AT);
    md.set(outcome.correlationId, MQMD_CORREL_ID_AT);
    const when = putDateTime(outcome.putTime);
    encodeField(when.putDate, 8, this.#ccsid, 'MQMD PutDate').copy(md, MQMD_PUT_DATE_AT);
    encodeField(when.putTime, 8, this.#ccsid, 'MQMD PutTime').copy(md, MQMD_PUT_TIME_AT);
    const ccsid = (put.message['descriptor'] as Args)['ccsid'] as number;
    if (this.#integers() === 'big') md.writeInt32BE(ccsid, MQMD_CCSID_AT);
    else md.writeInt32LE(ccsid, MQMD_CCSID_AT);
    return { md };
  }

  /** Checks a get's options before the get: once it is done, the message may be gone. */
  select(args: Args): Args {
    optionalFlag(args, 'convert');
    const ccsid = optionalInteger(args, 'ccsid');
    const encoding = optionalInteger(args, 'encoding');
    if (encoding !== undefined && integerEncoding(encoding) === undefined) {
      throw Errors.invalidArgument(`encoding ${encoding} names no integer byte order (273, 546)`);
    }
    if (ccsid !== undefined && !isSupportedCcsid(ccsid)) {
      throw Errors.invalidArgument(`CCSID ${ccsid} is not supported`);
    }
    const selection: Args = {};
    for (const key of ['messageId', 'correlationId', 'selector']) {
      if (args[key] !== undefined && args[key] !== null) selection[key] = args[key];
    }
    return selection;
  }

  /**
   * Never throws: the message may be gone from its queue already (a get outside syncpoint),
   * so whatever cannot be shown exactly is shown as close as it can be, with a warning.
   */
  gotten(message: WireMessage, args: Args): Args {
    try {
      return this.#gotten(message, args);
    } catch (error) {
      // Still the message, with a default descriptor of its ids, so it is not lost.
      const md = { ...defaultMqmd(), msgId: message.messageId, correlId: message.correlationId,
        codedCharSetId: message.descriptor?.ccsid ?? 1208, encoding: this.#encoding,
        ...putDateTime(message.putTime) };
      return { md: encodeMqmd(md, this.#integers(), this.#ccsid), body: message.body,
        properties: {}, warning: WARNING_NOT_CONVERTED, reason: 2119,
        detail: `the descriptor could not be shown: ${(error as Error).message}` };
    }
  }

  #gotten(message: WireMessage, args: Args): Args {
    const d = message.descriptor;
    const md: Mqmd = {
      report: d?.report ?? 0, msgType: d?.messageType ?? 8, expiry: message.expiry,
      feedback: d?.feedback ?? 0, encoding: d?.encoding ?? 546, codedCharSetId: d?.ccsid ?? 1208,
      format: message.format, priority: message.priority,
      persistence: message.persistent ? MQPER_PERSISTENT : MQPER_NOT_PERSISTENT,
      msgId: message.messageId, correlId: message.correlationId,
      backoutCount: message.backoutCount, replyToQ: message.replyToQueue,
      replyToQMgr: message.replyToQueueManager, userIdentifier: d?.userId ?? '',
      accountingToken: Buffer.from(d?.accountingToken ?? Buffer.alloc(32)),
      applIdentityData: d?.applIdentity ?? '', putApplType: d?.putApplType ?? 0,
      putApplName: d?.putApplName ?? '', ...putDateTime(message.putTime),
      applOriginData: d?.applOrigin ?? '', groupId: Buffer.from(d?.groupId ?? Buffer.alloc(24)),
      msgSeqNumber: d?.sequenceNumber ?? 1, offset: d?.offset ?? 0, msgFlags: d?.messageFlags ?? 0,
      originalLength: d?.originalLength ?? -1,
    };
    let body: Uint8Array = message.body;
    const reply: Args = {};
    if (args['convert'] === true) {
      const converted = this.#convert(md, body, args);
      body = converted.body;
      if (converted.warning !== undefined) Object.assign(reply, converted.warning);
    }
    const fields = this.#fieldsWithWarning(md);
    if (fields !== undefined && reply['warning'] === undefined) Object.assign(reply, fields);
    reply['md'] = encodeMqmd(md, this.#integers(), this.#ccsid);
    reply['body'] = body;
    reply['properties'] = propertiesToWire(message.properties);
    return reply;
  }

  /** MQGMO_CONVERT: to the CCSID and encoding the get names, else the connection's. */
  #convert(md: Mqmd, body: Uint8Array, args: Args): { body: Uint8Array; warning?: Args } {
    // Checked by select() for a get. A browse's values are not checked: a bad encoding
    // counts as the connection's, an unsupported CCSID gives the warning 2115.
    const targetCcsid = typeof args['ccsid'] === 'number' ? args['ccsid'] : this.#ccsid;
    const targetEncoding = typeof args['encoding'] === 'number' &&
      integerEncoding(args['encoding']) !== undefined ? args['encoding'] : this.#encoding;
    const format = md.format.trimEnd();
    if (CHARACTER_FORMATS.has(format)) {
      const result = convertText(body, md.codedCharSetId, targetCcsid);
      if (!result.converted) {
        return { body, warning: { warning: WARNING_NOT_CONVERTED, reason: result.reasonCode ?? 2119,
          detail: result.reason ?? 'not converted' } };
      }
      md.codedCharSetId = targetCcsid;
      md.encoding = targetEncoding;
      return { body: result.bytes };
    }
    const differs = md.codedCharSetId !== targetCcsid || md.encoding !== targetEncoding;
    if (format === MQFMT_NONE || !differs) return { body };
    return { body, warning: { warning: WARNING_NOT_CONVERTED, reason: MQRC_FORMAT_ERROR,
      detail: `format '${format}' has no conversion` } };
  }

  /**
   * Text fields that have no code in the connection's CCSID get '?' for what has none, and
   * are cut to fit their field once encoded (a character may take more bytes in UTF-8 than in
   * the CCSID it was put in); with a warning.
   */
  #fieldsWithWarning(md: Mqmd): Args | undefined {
    let replaced = false;
    for (const [key, width] of TEXT_FIELD_WIDTHS) {
      const encoded = encodeText(md[key], this.#ccsid);
      if (encoded !== undefined && encoded.length <= width) continue;
      let fitted = '';
      for (const c of md[key]) {
        const next = fitted + (encodeText(c, this.#ccsid) === undefined ? '?' : c);
        if ((encodeText(next, this.#ccsid)?.length ?? Infinity) > width) break;
        fitted = next;
      }
      md[key] = fitted;
      replaced = true;
    }
    return replaced ? { warning: WARNING_NOT_CONVERTED, reason: 2119,
      detail: 'descriptor fields had characters without a code in the connection\'s CCSID' }
      : undefined;
  }
}

export const mq: Personality = {
  name: 'mq',
  connect: (hello, settings) => new MqConnection(hello, settings),
};


/**
 * The one errors module of sanmq. Every failure a caller can meet is a {@link SanmqError} with a
 * stable `code` to switch on. The storage codes are the same list as the native core's
 * (native/errors.h), and a test compares the two; the controller's codes follow them. Messages
 * say what was wrong and, where it helps, what to do.
 */

/** Codes the storage core raises (native/errors.h), in its order. */
export const STORAGE_ERROR_CODES = [
  'E_INVALID_ARGUMENT',
  'E_NOT_A_LUN',
  'E_BAD_VERSION',
  'E_CHECKSUM',
  'E_CORRUPT',
  'E_GEOMETRY',
  'E_FOREIGN_DATA',
  'E_LUN_BUSY',
  'E_LUN_FULL',
  'E_NO_SPACE',
  'E_IO',
  'E_FAILED',
  'E_CRASHED',
  'E_CLOSED',
  'E_READ_ONLY',
  'E_NOT_WRITER',
  'E_NOT_LIVE',
  'E_RECORD_TOO_LARGE',
  'E_BUSY',
  'E_INTERNAL',
] as const;

/** Codes the controller raises: queues, units of work and locks (IBM MQ reason in brackets). */
export const CONTROLLER_ERROR_CODES = [
  'E_UNKNOWN_QUEUE',      // MQRC_UNKNOWN_OBJECT_NAME
  'E_Q_EXISTS',           // defining a queue that exists (MQSC: without REPLACE)
  'E_Q_NOT_EMPTY',        // MQRC_Q_NOT_EMPTY
  'E_Q_FULL',             // MQRC_Q_FULL
  'E_MSG_TOO_LONG',       // MQRC_MSG_TOO_BIG_FOR_Q
  'E_NO_MSG',             // MQRC_NO_MSG_AVAILABLE
  'E_PUT_INHIBITED',      // MQRC_PUT_INHIBITED
  'E_GET_INHIBITED',      // MQRC_GET_INHIBITED
  'E_OBJECT_IN_USE',      // MQRC_OBJECT_IN_USE
  'E_SYNCPOINT_LIMIT',    // MQRC_SYNCPOINT_LIMIT_REACHED
  'E_BACKED_OUT',         // MQRC_BACKED_OUT
  'E_UNKNOWN_XID',        // XAER_NOTA
  'E_DUPLICATE_XID',      // XAER_DUPID
  'E_DEADLOCK',
  'E_LOCK_TIMEOUT',
  'E_BAD_SELECTOR',       // MQRC_SELECTOR_SYNTAX_ERROR
] as const;

/** Codes of the protocol that joins queue managers and applications to the controller. */
export const PROTOCOL_ERROR_CODES = [
  'E_BAD_FRAME',          // malformed, oversized or out-of-order frame: the connection closes
  'E_PROTOCOL_VERSION',   // no protocol version both ends speak
  'E_NOT_AUTHORIZED',     // MQRC_NOT_AUTHORIZED: the handshake was refused
  'E_CONNECTION_BROKEN',  // MQRC_CONNECTION_BROKEN: the connection or its queue manager ended
  'E_QM_NOT_AVAILABLE',   // MQRC_Q_MGR_NOT_AVAILABLE: the queue manager is not running
] as const;

/** Codes of channels and the queue-sharing group's shared channel state. */
export const CHANNEL_ERROR_CODES = [
  'E_UNKNOWN_CHANNEL',    // MQRC_UNKNOWN_CHANNEL_NAME
  'E_CHANNEL_EXISTS',     // defining a channel that exists (MQSC: without REPLACE)
  'E_CHANNEL_ACTIVE',     // MQRCCF_CHANNEL_IN_USE: an instance runs (start twice, delete)
  'E_CHANNEL_NOT_ACTIVE', // MQRCCF_CHANNEL_NOT_ACTIVE: stop of a channel that does not run
  'E_CHANNEL_STATUS',     // the shared channel status table could not be updated
  'E_CHANNEL_PROTOCOL',   // the partner broke the channel protocol (sequence, frame, name)
  'E_CHANNEL_FAILED',     // the link to the partner failed or the partner refused the channel
] as const;

export const ERROR_CODES = [
  ...STORAGE_ERROR_CODES, ...CONTROLLER_ERROR_CODES, ...PROTOCOL_ERROR_CODES, ...CHANNEL_ERROR_CODES,
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const known = new Set<string>(ERROR_CODES);

export class SanmqError extends Error {
  readonly code: ErrorCode;
  /** Extra facts some errors carry (for example the recovery report of a corrupt LUN). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'SanmqError';
    this.code = code;
    this.details = details;
  }
}

export function isSanmqError(value: unknown, code?: ErrorCode): value is SanmqError {
  return value instanceof SanmqError && (code === undefined || value.code === code);
}

/** Turns an error thrown by the native core (an Error with a `code`) into a SanmqError. */
export function fromNative(error: unknown): SanmqError {
  if (error instanceof SanmqError) return error;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const details: Record<string, unknown> = {};
    const report = (error as { report?: unknown }).report;
    if (report !== undefined) details['report'] = report;
    if (typeof code === 'string' && known.has(code)) {
      return new SanmqError(code as ErrorCode, error.message, details);
    }
    return new SanmqError('E_INTERNAL', error.message, details);
  }
  return new SanmqError('E_INTERNAL', String(error));
}

/** One factory per failure the TypeScript layers raise themselves. */
export const Errors = {
  invalidArgument: (message: string) => new SanmqError('E_INVALID_ARGUMENT', message),
  closed: (what = 'the LUN') => new SanmqError('E_CLOSED', `${what} is closed`),
  recordTooLarge: (message: string) => new SanmqError('E_RECORD_TOO_LARGE', message),
  readOnly: () => new SanmqError('E_READ_ONLY', 'the LUN was opened read-only'),
  internal: (message: string) => new SanmqError('E_INTERNAL', message),
  unknownQueue: (name: string) =>
    new SanmqError('E_UNKNOWN_QUEUE', `queue '${name}' is not defined`, { queue: name }),
  queueExists: (name: string) =>
    new SanmqError('E_Q_EXISTS', `queue '${name}' is already defined (pass replace to redefine it)`,
      { queue: name }),
  queueNotEmpty: (name: string, depth: number) =>
    new SanmqError('E_Q_NOT_EMPTY',
      `queue '${name}' holds ${depth} messages; delete it with purge to discard them`,
      { queue: name, depth }),
  queueFull: (name: string, maxDepth: number) =>
    new SanmqError('E_Q_FULL', `queue '${name}' is full: it holds its maximum depth of ${maxDepth}`,
      { queue: name, maxDepth }),
  messageTooLong: (name: string, bytes: number, max: number) =>
    new SanmqError('E_MSG_TOO_LONG',
      `the message holds ${bytes} bytes; queue '${name}' takes at most ${max}`,
      { queue: name, bytes, max }),
  noMessage: (name: string) =>
    new SanmqError('E_NO_MSG', `no message available on queue '${name}'`, { queue: name }),
  putInhibited: (name: string) =>
    new SanmqError('E_PUT_INHIBITED', `puts to queue '${name}' are inhibited`, { queue: name }),
  getInhibited: (name: string) =>
    new SanmqError('E_GET_INHIBITED', `gets from queue '${name}' are inhibited`, { queue: name }),
  objectInUse: (message: string) => new SanmqError('E_OBJECT_IN_USE', message),
  syncpointLimit: (max: number) =>
    new SanmqError('E_SYNCPOINT_LIMIT',
      `a unit of work holds at most ${max} messages (puts and gets); commit or back out first`,
      { max }),
  backedOut: (message: string, cause: string) =>
    new SanmqError('E_BACKED_OUT', message, { cause, backedOut: true }),
  unknownXid: (xid: string) =>
    new SanmqError('E_UNKNOWN_XID', `no prepared unit of work has xid '${xid}'`, { xid }),
  duplicateXid: (xid: string) =>
    new SanmqError('E_DUPLICATE_XID', `a prepared unit of work already has xid '${xid}'`, { xid }),
  unknownChannel: (name: string) =>
    new SanmqError('E_UNKNOWN_CHANNEL', `channel '${name}' is not defined`, { channel: name }),
  channelExists: (name: string) =>
    new SanmqError('E_CHANNEL_EXISTS',
      `channel '${name}' is already defined (pass replace to redefine it)`, { channel: name }),
  channelActive: (name: string, message: string) =>
    new SanmqError('E_CHANNEL_ACTIVE', message, { channel: name }),
  notWriter: () =>
    new SanmqError(
      'E_NOT_WRITER',
      'the LUN was attached for slot access only; its log belongs to its writer',
    ),
} as const;

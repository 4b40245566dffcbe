/**
 * Queue attributes: their defaults (IBM MQ's, where MQ has one), their validation at the
 * boundary with exact messages, and the rules that tie them together (a queue's maximum
 * message length cannot exceed what one LUN append holds).
 */
import { Errors } from '../errors.js';

export type DeliverySequence = 'priority' | 'fifo';
export type TriggerType = 'none' | 'first' | 'every' | 'depth';
export type InputOpen = 'shared' | 'exclusive';

export interface QueueAttributes {
  description: string;
  /** MAXDEPTH: committed and uncommitted messages the queue may hold. */
  maxDepth: number;
  /** MAXMSGL: bytes of body a message may carry. */
  maxMessageLength: number;
  /** DEFPSIST: whether puts that do not say are persistent. */
  defaultPersistent: boolean;
  /** DEFPRTY: priority of puts that do not say. */
  defaultPriority: number;
  /** MSGDLVSQ: priority order (then FIFO within a priority) or FIFO alone. */
  deliverySequence: DeliverySequence;
  /** PUT(DISABLED) / GET(DISABLED). */
  putInhibited: boolean;
  getInhibited: boolean;
  /** BOTHRESH: a backed-out message whose backout count reaches it is moved; 0: never. */
  backoutThreshold: number;
  /** BOQNAME: where such a message goes ('' : the dead-letter queue). */
  backoutRequeueQueue: string;
  /** SHARE / NOSHARE: whether several connections may get from the queue at once. */
  shareability: InputOpen;
  /** DEFSOPT: the input open a get uses when the connection did not open the queue. */
  defaultInputOpen: InputOpen;
  /** TRIGGER / NOTRIGGER. */
  triggerControl: boolean;
  /** TRIGTYPE. */
  triggerType: TriggerType;
  /** TRIGDPTH: the depth that fires a DEPTH trigger. */
  triggerDepth: number;
  /** TRIGMPRI: messages below this priority neither count nor fire. */
  triggerMessagePriority: number;
  /** INITQ: where trigger messages go. */
  initiationQueue: string;
  /** TRIGDATA, and PROCESS: carried in the trigger message. */
  triggerData: string;
  processName: string;
}

export const NAME_PATTERN = /^[A-Za-z0-9._/%]{1,48}$/;
export const DEPTH_MAX = 999_999_999;

export const DEFAULT_ATTRIBUTES: Readonly<QueueAttributes> = Object.freeze({
  description: '',
  maxDepth: 5000,
  maxMessageLength: 4 * 1024 * 1024,
  defaultPersistent: false,
  defaultPriority: 0,
  deliverySequence: 'priority',
  putInhibited: false,
  getInhibited: false,
  backoutThreshold: 0,
  backoutRequeueQueue: '',
  shareability: 'shared',
  defaultInputOpen: 'shared',
  triggerControl: false,
  triggerType: 'first',
  triggerDepth: 1,
  triggerMessagePriority: 0,
  initiationQueue: '',
  triggerData: '',
  processName: '',
});

const KEYS = Object.keys(DEFAULT_ATTRIBUTES) as Array<keyof QueueAttributes>;

/** Validates a queue or object name (IBM MQ's rules: 1–48 of A–Z a–z 0–9 . _ / %). */
export function requireName(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw Errors.invalidArgument(
      `${what} must be 1 to 48 characters of A-Z, a-z, 0-9, '.', '_', '/' and '%'`);
  }
  return value;
}

function optionalName(value: unknown, what: string): string {
  if (value === '') return '';
  return requireName(value, what);
}

function wholeNumber(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw Errors.invalidArgument(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function flag(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw Errors.invalidArgument(`${what} must be true or false`);
  return value;
}

function oneOf<T extends string>(value: unknown, what: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw Errors.invalidArgument(`${what} must be one of ${choices.map((c) => `'${c}'`).join(', ')}`);
  }
  return value as T;
}

function text(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length > max) {
    throw Errors.invalidArgument(`${what} must be a string of at most ${max} characters`);
  }
  return value;
}

/**
 * Returns `base` with the attributes of `changes` applied, each validated. Unknown keys are
 * refused. `messageLengthMax` is the largest body the LUN's geometry allows.
 */
export function applyAttributes(base: Readonly<QueueAttributes>, changes: unknown,
  messageLengthMax: number): QueueAttributes {
  if (changes === undefined) return { ...base };
  if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
    throw Errors.invalidArgument('attributes must be an object');
  }
  const input = changes as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(KEYS as string[]).includes(key)) {
      throw Errors.invalidArgument(`unknown queue attribute '${key}'; known: ${KEYS.join(', ')}`);
    }
  }
  const result: QueueAttributes = { ...base };
  const has = (key: keyof QueueAttributes) => input[key] !== undefined;
  if (has('description')) result.description = text(input['description'], 'description', 64);
  if (has('maxDepth')) result.maxDepth = wholeNumber(input['maxDepth'], 'maxDepth', 0, DEPTH_MAX);
  if (has('maxMessageLength')) {
    result.maxMessageLength = wholeNumber(input['maxMessageLength'], 'maxMessageLength', 0,
      messageLengthMax);
  }
  if (has('defaultPersistent')) {
    result.defaultPersistent = flag(input['defaultPersistent'], 'defaultPersistent');
  }
  if (has('defaultPriority')) {
    result.defaultPriority = wholeNumber(input['defaultPriority'], 'defaultPriority', 0, 9);
  }
  if (has('deliverySequence')) {
    result.deliverySequence = oneOf(input['deliverySequence'], 'deliverySequence',
      ['priority', 'fifo'] as const);
  }
  if (has('putInhibited')) result.putInhibited = flag(input['putInhibited'], 'putInhibited');
  if (has('getInhibited')) result.getInhibited = flag(input['getInhibited'], 'getInhibited');
  if (has('backoutThreshold')) {
    result.backoutThreshold = wholeNumber(input['backoutThreshold'], 'backoutThreshold', 0,
      DEPTH_MAX);
  }
  if (has('backoutRequeueQueue')) {
    result.backoutRequeueQueue = optionalName(input['backoutRequeueQueue'], 'backoutRequeueQueue');
  }
  if (has('shareability')) {
    result.shareability = oneOf(input['shareability'], 'shareability', ['shared', 'exclusive'] as const);
  }
  if (has('defaultInputOpen')) {
    result.defaultInputOpen = oneOf(input['defaultInputOpen'], 'defaultInputOpen',
      ['shared', 'exclusive'] as const);
  }
  if (has('triggerControl')) result.triggerControl = flag(input['triggerControl'], 'triggerControl');
  if (has('triggerType')) {
    result.triggerType = oneOf(input['triggerType'], 'triggerType',
      ['none', 'first', 'every', 'depth'] as const);
  }
  if (has('triggerDepth')) {
    result.triggerDepth = wholeNumber(input['triggerDepth'], 'triggerDepth', 1, DEPTH_MAX);
  }
  if (has('triggerMessagePriority')) {
    result.triggerMessagePriority = wholeNumber(input['triggerMessagePriority'],
      'triggerMessagePriority', 0, 9);
  }
  if (has('initiationQueue')) {
    result.initiationQueue = optionalName(input['initiationQueue'], 'initiationQueue');
  }
  if (has('triggerData')) result.triggerData = text(input['triggerData'], 'triggerData', 64);
  if (has('processName')) result.processName = optionalName(input['processName'], 'processName');
  return result;
}

/**
 * Attributes read back from the catalog: defaults first, so older records gain new fields;
 * fields this version does not know (written by a newer one) are left aside, not refused.
 */
export function storedAttributes(value: unknown, messageLengthMax: number): QueueAttributes {
  const known: Record<string, unknown> = {};
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if ((KEYS as string[]).includes(key)) known[key] = item;
    }
  }
  return applyAttributes(DEFAULT_ATTRIBUTES, known, Math.max(messageLengthMax, DEPTH_MAX));
}

export function defaultAttributes(messageLengthMax: number): QueueAttributes {
  return { ...DEFAULT_ATTRIBUTES, maxMessageLength: Math.min(DEFAULT_ATTRIBUTES.maxMessageLength,
    messageLengthMax) };
}

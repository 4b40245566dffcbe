/**
 * The shared channel status table (US 2002/0064126, paragraphs 0044–0046): one entry per
 * channel, each in a compare-and-swap slot of the LUN, holding the fields the patent lists.
 * An entry changes only by replacing the exact image read before (the before-image) with a new
 * one (the after-image); a stale before-image changes nothing, so of two members racing to
 * take a channel over exactly one wins.
 *
 * Entry image (big-endian, the rest of the slot zero):
 *   u8 magic 0x53 · u8 version 1 · u8 type (1 sender, 2 receiver) · u8 status
 *   f64 updated (ms since the epoch) · u32 instance · u32 retries
 *   f64 sentSequence · f64 committedSequence
 *   then five strings, each u8 length + UTF-8: channel, transmissionQueue (blank inbound),
 *   remoteQueueManager, owner (the owning queue manager; blank when none), remoteAddress.
 * An all-zero slot holds no entry.
 */
import { Errors, SanmqError } from '../errors.js';
import type { ChannelType } from './definition.js';

export const CHANNEL_STATUSES = ['inactive', 'starting', 'running', 'retrying', 'stopping',
  'stopped', 'recovering'] as const;
/**
 * inactive: defined, never started or ended normally; starting: an instance is being set up;
 * running: an instance moves messages; retrying: failed, another start is due; stopping and
 * stopped: an operator's STOP; recovering: a peer won the channel and is restarting it.
 */
export type ChannelStatus = (typeof CHANNEL_STATUSES)[number];

/** Statuses of a channel that some member is responsible for. */
export const OWNED_STATUSES: ReadonlySet<ChannelStatus> = new Set(['starting', 'running',
  'retrying', 'stopping', 'recovering']);

export interface StatusEntry {
  /** Time of the last update. */
  updated: Date;
  channel: string;
  /** Blank for an inbound (receiver) channel. */
  transmissionQueue: string;
  remoteQueueManager: string;
  /** The queue manager whose channel initiator runs (or must run) the instance; '' none. */
  owner: string;
  type: ChannelType;
  status: ChannelStatus;
  remoteAddress: string;
  /** Counts instances: each start adds one, so a watcher tells instances apart. */
  instance: number;
  /** Restart attempts in the current series of retries. */
  retries: number;
  /** The last batch sent, and the last batch both ends committed. */
  sentSequence: number;
  committedSequence: number;
}

const MAGIC = 0x53;
const VERSION = 1;
const HEAD_BYTES = 4 + 8 + 4 + 4 + 8 + 8;
const STRING_FIELDS = ['channel', 'transmissionQueue', 'remoteQueueManager', 'owner',
  'remoteAddress'] as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The slots an entry lives in: the controller's own table, or a member's view through it. */
export interface SlotAccess {
  read(slot: number): Promise<Uint8Array>;
  cas(slot: number, before: Uint8Array, after: Uint8Array): Promise<boolean>;
}

export function encodeStatus(entry: StatusEntry, slotBytes: number): Buffer {
  const image = Buffer.alloc(slotBytes);
  image[0] = MAGIC;
  image[1] = VERSION;
  image[2] = entry.type === 'sender' ? 1 : 2;
  const status = CHANNEL_STATUSES.indexOf(entry.status);
  if (status < 0) throw Errors.invalidArgument(`unknown channel status '${entry.status}'`);
  image[3] = status;
  image.writeDoubleBE(entry.updated.getTime(), 4);
  image.writeUInt32BE(entry.instance >>> 0, 12);
  image.writeUInt32BE(Math.min(entry.retries, 0xffff_ffff) >>> 0, 16);
  image.writeDoubleBE(entry.sentSequence, 20);
  image.writeDoubleBE(entry.committedSequence, 28);
  let at = HEAD_BYTES;
  for (const field of STRING_FIELDS) {
    const bytes = encoder.encode(entry[field]);
    if (bytes.length > 255 || at + 1 + bytes.length > slotBytes) {
      throw Errors.invalidArgument(`the status entry of channel '${entry.channel}' does not fit ` +
        `a ${slotBytes}-byte status slot (${field} is ${bytes.length} bytes)`);
    }
    image[at] = bytes.length;
    image.set(bytes, at + 1);
    at += 1 + bytes.length;
  }
  return image;
}

/** The entry an image holds; undefined for an empty (all-zero) slot. */
export function decodeStatus(image: Uint8Array): StatusEntry | undefined {
  if (image.every((byte) => byte === 0)) return undefined;
  const bytes = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  const corrupt = (why: string) => new SanmqError('E_CORRUPT', `channel status slot: ${why}`);
  if (bytes.length < HEAD_BYTES || bytes[0] !== MAGIC) throw corrupt('not a status entry');
  if (bytes[1] !== VERSION) throw corrupt(`entry version ${bytes[1]}`);
  const type = bytes[2] === 1 ? 'sender' : bytes[2] === 2 ? 'receiver' : undefined;
  const status = CHANNEL_STATUSES[bytes[3] as number];
  if (type === undefined || status === undefined) throw corrupt('bad type or status');
  const strings: string[] = [];
  let at = HEAD_BYTES;
  for (let i = 0; i < STRING_FIELDS.length; i++) {
    const length = bytes[at];
    if (length === undefined || at + 1 + length > bytes.length) throw corrupt('truncated');
    strings.push(decoder.decode(bytes.subarray(at + 1, at + 1 + length)));
    at += 1 + length;
  }
  const [channel, transmissionQueue, remoteQueueManager, owner, remoteAddress] = strings as
    [string, string, string, string, string];
  return {
    updated: new Date(bytes.readDoubleBE(4)),
    channel, transmissionQueue, remoteQueueManager, owner, type, status, remoteAddress,
    instance: bytes.readUInt32BE(12),
    retries: bytes.readUInt32BE(16),
    sentSequence: bytes.readDoubleBE(20),
    committedSequence: bytes.readDoubleBE(28),
  };
}

/** An entry as read: its image is the before-image of the next update. */
export interface StatusRead {
  slot: number;
  image: Uint8Array;
  entry: StatusEntry | undefined;
}

/** The status table over a member's slot access, with compare-and-swap updates only. */
export class StatusTable {
  readonly #slots: SlotAccess;

  constructor(slots: SlotAccess) {
    this.#slots = slots;
  }

  async read(slot: number): Promise<StatusRead> {
    const image = await this.#slots.read(slot);
    return { slot, image, entry: decodeStatus(image) };
  }

  /**
   * Replaces `before` (an earlier read) with `after`, stamped with the time now. Resolves the
   * new read when it took, undefined when the before-image was stale (nothing changed).
   */
  async update(before: StatusRead, after: Omit<StatusEntry, 'updated'>): Promise<StatusRead | undefined> {
    const entry: StatusEntry = { ...after, updated: new Date() };
    const image = encodeStatus(entry, before.image.byteLength);
    if (!await this.#slots.cas(before.slot, before.image, image)) return undefined;
    return { slot: before.slot, image, entry };
  }

  /**
   * Reads, derives the after-image and swaps, again on a stale read, at most `attempts` times.
   * `change` returns undefined to leave the entry alone. Resolves the entry as it ends up.
   */
  async transition(slot: number,
    change: (entry: StatusEntry | undefined) => Omit<StatusEntry, 'updated'> | undefined,
    attempts = 16): Promise<StatusRead> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const before = await this.read(slot);
      const after = change(before.entry);
      if (after === undefined) return before;
      const done = await this.update(before, after);
      if (done !== undefined) return done;
    }
    throw new SanmqError('E_CHANNEL_STATUS',
      `status slot ${slot} changed under ${attempts} updates in a row`, { slot });
  }

  /** Every entry of the given slots. */
  async list(slots: Iterable<number>): Promise<StatusRead[]> {
    return Promise.all([...slots].map((slot) => this.read(slot)));
  }
}

/**
 * Slot access whose next `failures` compare-and-swaps fail with E_IO, as a member that lost
 * its path to the status table sees (failure scenario 1).
 */
export class FaultySlotAccess implements SlotAccess {
  readonly #inner: SlotAccess;
  failures = 0;

  constructor(inner: SlotAccess) {
    this.#inner = inner;
  }

  read(slot: number): Promise<Uint8Array> {
    return this.#inner.read(slot);
  }

  async cas(slot: number, before: Uint8Array, after: Uint8Array): Promise<boolean> {
    if (this.failures > 0) {
      this.failures--;
      throw new SanmqError('E_IO', `injected: the status table cannot be reached (slot ${slot})`);
    }
    return this.#inner.cas(slot, before, after);
  }
}

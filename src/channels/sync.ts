/**
 * Synchronisation data of channels, in the group's shared sync queue (IBM MQ's
 * SYSTEM.QSG.CHANNEL.SYNCQ): one persistent message per channel end, found by a correlation id
 * derived from the channel's name and type, holding the sequence number of the last batch that
 * end committed. It is replaced in the same unit of work as the messages of the batch it
 * covers, so the record and the messages can never disagree; any member can read it, which is
 * what lets a peer resume a failed member's channel exactly where it stopped.
 *
 * A sender's batch in flight is a prepared unit of work named by its xid,
 * SANMQ.CH.<channel>.<sequence>: it survives the failure of the member that prepared it (in
 * doubt), and the next instance of the channel resolves it from what the receiver committed.
 */
import { createHash } from 'node:crypto';

import { SanmqError } from '../errors.js';
import type { ChannelType } from './definition.js';
import type { GroupSession } from './group.js';

export const SYNC_QUEUE = 'SYSTEM.QSG.CHANNEL.SYNCQ';
export const CHANNEL_INITIATION_QUEUE = 'SYSTEM.CHANNEL.INITQ';
export const SYNC_FORMAT = 'SANMQSYN';

/** The correlation id of a channel end's sync record: 24 bytes of SHA-256 of type:name. */
export function syncKey(channel: string, type: ChannelType): Buffer {
  return createHash('sha256').update(`${type}:${channel}`).digest().subarray(0, 24);
}

export interface SyncRecord {
  channel: string;
  type: ChannelType;
  /** The last batch this end committed (0: none yet). */
  sequence: number;
}

export function decodeSync(body: Uint8Array, channel: string): SyncRecord {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    value = undefined;
  }
  const record = value as Partial<SyncRecord> | undefined;
  if (record === undefined || record.channel !== channel || typeof record.sequence !== 'number' ||
      !Number.isSafeInteger(record.sequence) || record.sequence < 0) {
    throw new SanmqError('E_CORRUPT', `the sync record of channel '${channel}' is not readable`,
      { channel });
  }
  return record as SyncRecord;
}

/** The last committed sequence number of a channel end (0 when it never committed a batch). */
export async function readSync(session: GroupSession, channel: string, type: ChannelType):
Promise<number> {
  const message = await session.browseFirst(SYNC_QUEUE, syncKey(channel, type));
  return message === undefined ? 0 : decodeSync(message.body, channel).sequence;
}

/**
 * Replaces the sync record of a channel end with `sequence`, inside the session's open unit
 * of work (the caller commits or prepares it with the batch).
 */
export async function replaceSync(session: GroupSession, channel: string, type: ChannelType,
  sequence: number): Promise<void> {
  const key = syncKey(channel, type);
  await session.get(SYNC_QUEUE, { correlationId: key, syncpoint: true });
  const body = Buffer.from(JSON.stringify({ channel, type, sequence } satisfies SyncRecord));
  await session.put(SYNC_QUEUE, { body, correlationId: key, persistent: true, format: SYNC_FORMAT },
    true);
}

const XID_PREFIX = 'SANMQ.CH.';

export function batchXid(channel: string, sequence: number): string {
  return `${XID_PREFIX}${channel}.${sequence}`;
}

/** The sequence number of a channel's in-doubt batch xid, or undefined for another xid. */
export function batchOfXid(xid: string, channel: string): number | undefined {
  const prefix = `${XID_PREFIX}${channel}.`;
  if (!xid.startsWith(prefix)) return undefined;
  const rest = xid.slice(prefix.length);
  return /^\d{1,15}$/.test(rest) ? Number(rest) : undefined;
}

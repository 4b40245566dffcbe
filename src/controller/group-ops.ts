/**
 * The queue-sharing group's shared state, as members reach it through the protocol: the
 * shared channel status table (compare-and-swap slots of the LUN, and only the slots of
 * defined channels), the channel definitions, the list of members, group locks held by a
 * session (one running instance of a channel), and start/stop requests directed at one
 * member's channel initiator (US 2002/0064126, paragraph 0055).
 */
import { Errors, SanmqError } from '../errors.js';
import type { Args } from '../protocol/frames.js';
import { bytes, integer, text, optionalText } from '../protocol/values.js';
import type { ChannelDefinition } from '../channels/definition.js';
import type { SlotAccess } from '../channels/status.js';
import type { Session } from './session.js';

export const GROUP_OPS = ['status.read', 'status.cas', 'channels', 'members', 'request', 'lock',
  'unlock'] as const;

/** What the group operations need of the controller. */
export interface GroupHost {
  readonly statusSlots: SlotAccess;
  channelList(): ChannelDefinition[];
}

/** What they need of the member service. */
export interface GroupMembers {
  list(): Array<{ name: string; role: string; personality: string }>;
  /** Sends `data` as the event channel-request to a member's channel initiator. */
  request(to: string, data: Args): void;
}

export function groupRequest(host: GroupHost, members: GroupMembers, from: string,
  session: (args: Args) => Session, op: string, args: Args): unknown {
  switch (op) {
    case 'status.read': return host.statusSlots.read(channelSlot(host, args));
    case 'status.cas':
      return host.statusSlots.cas(channelSlot(host, args), bytes(args, 'before'), bytes(args, 'after'));
    case 'channels': return host.channelList();
    case 'members': return members.list();
    case 'request': {
      const action = text(args, 'action');
      if (action !== 'start' && action !== 'stop' && action !== 'recover') {
        throw Errors.invalidArgument("action must be 'start', 'stop' or 'recover'");
      }
      const channel = text(args, 'channel');
      if (!host.channelList().some((c) => c.name === channel)) throw Errors.unknownChannel(channel);
      members.request(text(args, 'to'), { channel, action, from,
        reason: optionalText(args, 'reason') ?? '' });
      return null;
    }
    case 'lock':
      session(args).lock(text(args, 'resource'));
      return null;
    case 'unlock':
      session(args).unlock(text(args, 'resource'));
      return null;
    default: throw Errors.internal(`operation ${op} has no handler`);
  }
}

/** A slot a member may touch: one that holds a defined channel's status entry. */
function channelSlot(host: GroupHost, args: Args): number {
  const slot = integer(args, 'slot');
  if (!host.channelList().some((c) => c.statusSlot === slot)) {
    throw new SanmqError('E_INVALID_ARGUMENT', `slot ${slot} holds no channel's status`, { slot });
  }
  return slot;
}

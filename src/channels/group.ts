/**
 * A channel initiator's connection to the controller: it joins as a member of the group
 * (role 'channel-initiator', named after its queue manager) and reaches the shared queues,
 * the shared channel status table, the definitions and the other members through it. Also
 * the workload balancing that picks the member a channel should start on.
 */
import { SanmqError } from '../errors.js';
import { ClientEndpoint } from '../protocol/endpoint.js';
import { FRAME_BYTES_MAX, PROTOCOL_VERSIONS, type Args } from '../protocol/frames.js';
import { inputToWire, messageFromWire, type WireMessage } from '../protocol/messages.js';
import type { Transport } from '../protocol/transport.js';
import type { MessageInput } from '../controller/validation.js';
import type { ChannelDefinition } from './definition.js';
import { OWNED_STATUSES, type SlotAccess, type StatusRead } from './status.js';

export interface GroupMember {
  name: string;
  role: string;
  personality: string;
  /** Its connection ended; its sessions are closing. */
  ending?: boolean;
}

export class GroupClient {
  readonly name: string;
  readonly #endpoint: ClientEndpoint;
  /** The status table as this member sees it; a test may wrap it to inject failures. */
  slots: SlotAccess;

  /**
   * A connection of its own over `transport`, or (given a connected endpoint) the group
   * operations over a queue manager's own member connection.
   */
  constructor(transport: Transport | ClientEndpoint, name: string) {
    this.name = name;
    this.#endpoint = transport instanceof ClientEndpoint ? transport
      : new ClientEndpoint(transport, FRAME_BYTES_MAX * 4);
    this.slots = {
      read: async (slot) => Buffer.from(await this.#request('status.read', { slot }) as Uint8Array),
      cas: async (slot, before, after) =>
        await this.#request('status.cas', { slot, before, after }) === true,
    };
  }

  async start(): Promise<Args> {
    return this.#endpoint.hello({ versions: [...PROTOCOL_VERSIONS], role: 'channel-initiator',
      name: this.name, personality: 'channel-initiator' });
  }

  onEvent(listener: (name: string, data: Args) => void): void {
    this.#endpoint.onEvent(listener);
  }

  onClose(listener: (reason: SanmqError | undefined) => void): void {
    this.#endpoint.onClose(listener);
  }

  get closed(): boolean {
    return this.#endpoint.isClosed;
  }

  close(): void {
    this.#endpoint.close();
  }

  #request(op: string, args: Args): Promise<unknown> {
    return this.#endpoint.request(op, args);
  }

  async channels(): Promise<ChannelDefinition[]> {
    return await this.#request('channels', {}) as ChannelDefinition[];
  }

  async channel(name: string): Promise<ChannelDefinition> {
    const found = (await this.channels()).find((c) => c.name === name);
    if (found === undefined) {
      throw new SanmqError('E_UNKNOWN_CHANNEL', `channel '${name}' is not defined`, { channel: name });
    }
    return found;
  }

  async members(): Promise<GroupMember[]> {
    return await this.#request('members', {}) as GroupMember[];
  }

  /** Sends a start, stop or recover request to a member's channel initiator. */
  async request(to: string, channel: string, action: 'start' | 'stop' | 'recover', reason = ''):
  Promise<void> {
    await this.#request('request', { to, channel, action, reason });
  }

  async session(): Promise<GroupSession> {
    const reply = await this.#request('session.open', {}) as Args;
    return new GroupSession(this.#endpoint, reply['session'] as number);
  }

  async inDoubt(): Promise<Array<{ xid: string }>> {
    return await this.#request('in-doubt', {}) as Array<{ xid: string }>;
  }

  async resolve(xid: string, outcome: 'commit' | 'rollback'): Promise<void> {
    await this.#request('resolve', { xid, outcome });
  }
}

/** One controller session of a channel initiator: a unit of work at a time. */
export class GroupSession {
  readonly #endpoint: ClientEndpoint;
  readonly id: number;
  #closed = false;

  constructor(endpoint: ClientEndpoint, id: number) {
    this.#endpoint = endpoint;
    this.id = id;
  }

  #request(op: string, args: Args = {}): Promise<unknown> {
    return this.#endpoint.request(op, { ...args, session: this.id });
  }

  async open(queue: string, input: 'shared' | 'exclusive'): Promise<void> {
    await this.#request('open', { queue, input });
  }

  async lock(resource: string): Promise<void> {
    await this.#request('lock', { resource });
  }

  async put(queue: string, message: MessageInput, syncpoint: boolean): Promise<void> {
    await this.#request('put', { queue, message: inputToWire(message), syncpoint });
  }

  /** Gets the next message under syncpoint; undefined when none came within `waitMs`. */
  async get(queue: string, options: { waitMs?: number; correlationId?: Uint8Array;
    syncpoint?: boolean; } = {}): Promise<WireMessage | undefined> {
    try {
      return messageFromWire(await this.#request('get', { queue, syncpoint: options.syncpoint ?? true,
        waitMs: options.waitMs ?? 0,
        ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }) }));
    } catch (error) {
      if (error instanceof SanmqError && error.code === 'E_NO_MSG') return undefined;
      throw error;
    }
  }

  /** The first message with this correlation id, left on the queue; undefined when none. */
  async browseFirst(queue: string, correlationId: Uint8Array): Promise<WireMessage | undefined> {
    const opened = await this.#request('browse.open', { queue, correlationId }) as Args;
    const cursor = opened['cursor'] as number;
    try {
      return messageFromWire(await this.#request('browse.next', { cursor, first: true }));
    } catch (error) {
      if (error instanceof SanmqError && error.code === 'E_NO_MSG') return undefined;
      throw error;
    } finally {
      await this.#request('browse.close', { cursor }).catch(() => undefined);
    }
  }

  async commit(): Promise<void> {
    await this.#request('commit');
  }

  async backout(): Promise<void> {
    await this.#request('backout');
  }

  async prepare(xid: string): Promise<void> {
    await this.#request('prepare', { xid });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#endpoint.isClosed) await this.#request('session.close').catch(() => undefined);
  }
}

/**
 * Workload balancing (US 2002/0064126, paragraph 0055): of the channel initiators running,
 * the one with the fewest active channels, then the most headroom (its limit less its active
 * channels), then by name so that every member that computes it picks the same.
 */
export function chooseMember(initiators: Array<{ name: string; channelsMax: number }>,
  entries: StatusRead[], exclude: readonly string[] = []): string | undefined {
  const active = new Map<string, number>();
  for (const read of entries) {
    const entry = read.entry;
    if (entry !== undefined && OWNED_STATUSES.has(entry.status) && entry.owner !== '') {
      active.set(entry.owner, (active.get(entry.owner) ?? 0) + 1);
    }
  }
  const candidates = initiators.filter((i) => !exclude.includes(i.name))
    .map((i) => ({ name: i.name, active: active.get(i.name) ?? 0,
      headroom: i.channelsMax - (active.get(i.name) ?? 0) }))
    .filter((c) => c.headroom > 0);
  candidates.sort((a, b) => a.active - b.active || b.headroom - a.headroom ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return candidates[0]?.name;
}

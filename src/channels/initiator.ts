/**
 * The channel initiator of one queue manager (US 2002/0064126, paragraphs 0036 and 0048): a
 * member of the group of its own, named after its queue manager, that runs sender agents,
 * accepts inbound channels on its listener, starts channels when their transmission queues
 * trigger, and recovers the channels of failed peers.
 *
 * Failures, as the patent handles them (paragraphs 0050–0058):
 * 1. status table unreachable and 2. link or remote failure: the instance ends, which unlocks
 *    the transmission queue, and after the retry interval a start request goes to the member
 *    that workload balancing picks (another one when the status table failed here);
 * 3. channel initiator failure: its queue manager, told by the controller, recovers its
 *    channels (`recoverInitiator`, run by the queue manager's runtime);
 * 4. queue manager failure: every peer hears of it; each of its channels is won by exactly
 *    one peer, through compare-and-swap on the channel's status entry, and that peer restarts
 *    it from the definition, the status and the sync data.
 */
import { SanmqError, isSanmqError } from '../errors.js';
import { listen, type Listener, type ListenOptions } from '../protocol/listener.js';
import type { Args } from '../protocol/frames.js';
import type { ChannelDefinition } from './definition.js';
import { chooseMember, type GroupClient, type GroupSession } from './group.js';
import { serveInbound } from './receiver.js';
import { SenderAgent, type SenderEnd } from './sender.js';
import { OWNED_STATUSES, StatusTable, type StatusEntry, type StatusRead } from './status.js';
import { CHANNEL_INITIATION_QUEUE } from './sync.js';

/** MAXCHL: channels one initiator runs at most (IBM MQ's default). */
export const CHANNELS_MAX = 200;

export interface InitiatorOptions {
  /** Where this initiator accepts inbound channels (default 127.0.0.1, any free port). */
  listen?: ListenOptions | undefined;
  /** Told of every status entry this initiator writes and of what it does. */
  onEvent?: (name: string, data: Args) => void;
}

export class ChannelInitiator {
  readonly name: string;
  readonly group: GroupClient;
  readonly status: StatusTable;
  readonly #options: InitiatorOptions;
  readonly #senders = new Map<string, SenderAgent>();
  readonly #inbound = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #listener: Listener | undefined;
  #closed = false;
  #triggers: GroupSession | undefined;
  #batchDelay: { ms: number; phase: 'commit' | 'reply' } = { ms: 0, phase: 'commit' };
  readonly #paused = new Set<() => void>();

  constructor(group: GroupClient, options: InitiatorOptions = {}) {
    this.group = group;
    this.name = group.name;
    this.#options = options;
    this.status = new StatusTable(group.slots);
  }

  get address(): { host: string; port: number } | undefined {
    const listener = this.#listener;
    return listener === undefined ? undefined : { host: listener.host, port: listener.port };
  }

  /** Names of the sender channels running here. */
  get running(): string[] {
    return [...this.#senders.keys()].sort();
  }

  #event(name: string, data: Args): void {
    this.#options.onEvent?.(name, data);
  }

  async start(): Promise<void> {
    this.group.onEvent((name, data) => {
      if (name === 'channel-request') this.#requested(data);
      else if (name === 'member-ended') void this.#memberEnded(data).catch(() => undefined);
    });
    this.#listener = await listen(this.#options.listen ?? {}, (transport) => {
      serveInbound({
        name: this.name, group: this.group, status: this.status,
        onStatus: (entry) => this.#event('status', statusEvent(entry)),
        pause: (phase) => this.#pause(phase),
        inbound: (channel, running) => {
          const count = (this.#inbound.get(channel) ?? 0) + (running ? 1 : -1);
          if (count > 0) this.#inbound.set(channel, count);
          else this.#inbound.delete(channel);
        },
      }, transport);
    });
    void this.#monitorTriggers();
    // Channels whose owners left while no initiator was there to hear it.
    void this.recoverOrphans().catch(() => undefined);
  }

  #requested(data: Args): void {
    const channel = String(data['channel']);
    const action = data['action'];
    if (action === 'stop') {
      this.#senders.get(channel)?.stop();
      return;
    }
    void this.startChannel(channel).catch((error: unknown) => {
      this.#event('start-failed', { channel, code: (error as SanmqError).code ?? 'E_INTERNAL' });
    });
  }

  /**
   * Starts an instance of a sender channel here. Resolves once the instance runs or failed
   * to start; E_CHANNEL_ACTIVE when another instance holds its transmission queue.
   */
  async startChannel(name: string): Promise<void> {
    if (this.#closed) throw new SanmqError('E_QM_NOT_AVAILABLE', `channel initiator ${this.name} is stopping`);
    if (this.#senders.has(name)) return;
    const def = await this.group.channel(name);
    if (def.type !== 'sender') {
      throw new SanmqError('E_INVALID_ARGUMENT', `channel '${name}' is a receiver: its remote sender starts it`);
    }
    const agent = new SenderAgent({ name: this.name, group: this.group, status: this.status,
      onStatus: (entry) => this.#event('status', statusEvent(entry)),
      onResolved: (xid, outcome) => this.#event('resolved', { channel: name, xid, outcome }) }, def);
    this.#senders.set(name, agent);
    void agent.run().then((end) => this.#senderEnded(def, agent, end));
    await agent.started;
  }

  /**
   * Inbound batches pause `ms` before they commit, or after it and before the confirmation
   * (fault injection for tests and demos: the sender's batch stays in doubt meanwhile); 0
   * ends the pauses under way at once.
   */
  delayBatches(ms: number, phase: 'commit' | 'reply'): void {
    this.#batchDelay = { ms, phase };
    if (ms === 0) {
      for (const wake of [...this.#paused]) wake();
    }
  }

  #pause(phase: 'commit' | 'reply'): Promise<void> {
    const { ms } = this.#batchDelay;
    if (ms === 0 || this.#batchDelay.phase !== phase) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#paused.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#paused.add(wake);
    });
  }

  /** STOP CHANNEL for an instance running here. */
  stopChannel(name: string): boolean {
    const agent = this.#senders.get(name);
    agent?.stop();
    return agent !== undefined;
  }

  #senderEnded(def: ChannelDefinition, agent: SenderAgent, end: SenderEnd): void {
    if (this.#senders.get(def.name) === agent) this.#senders.delete(def.name);
    this.#event('ended', { channel: def.name, kind: end.kind, instance: agent.instance,
      ...('error' in end ? { code: end.error.code, message: end.error.message } : {}) });
    if (this.#closed || end.kind === 'member') return;
    if (end.kind === 'status' || end.kind === 'comms') {
      void this.#retry(def, end.kind === 'status').catch(() => undefined);
    } else if (end.kind === 'active') {
      // The table gives this member the channel, yet its queue is locked: the instance that
      // holds it is ending (its member's sessions are closing). Try again after a while.
      void this.status.read(def.statusSlot).then((read) => {
        if (read.entry?.owner === this.name && read.entry.status === 'recovering') {
          return this.#retry(def, false);
        }
        return undefined;
      }).catch(() => undefined);
    } else if (end.kind === 'protocol') {
      void this.status.transition(def.statusSlot, (entry) => entry === undefined ? undefined
        : { ...entry, status: 'stopped', owner: '' }).catch(() => undefined);
    }
  }

  /**
   * Failure scenarios 1 and 2: after the retry interval, a start request to the member that
   * workload balancing picks (not this one after a status-table failure, when another runs).
   */
  async #retry(def: ChannelDefinition, awayFromHere: boolean): Promise<void> {
    let read: StatusRead | undefined;
    let retries = 0;
    try {
      read = await this.status.transition(def.statusSlot, (entry) => entry === undefined ? undefined
        : { ...entry, status: 'retrying', owner: this.name, retries: entry.retries + 1 });
      retries = read.entry?.retries ?? 1;
    } catch {
      retries = 1;
    }
    if (retries > def.shortRetryCount + def.longRetryCount) {
      await this.status.transition(def.statusSlot, (entry) => entry === undefined ? undefined
        : { ...entry, status: 'stopped', owner: '' }).catch(() => undefined);
      return;
    }
    const delay = retries <= def.shortRetryCount ? def.shortRetryMs : def.longRetryMs;
    await this.#sleep(delay);
    if (this.#closed) return;
    const target = await this.#balance(awayFromHere ? [this.name] : []) ??
      (awayFromHere ? await this.#balance([]) : undefined);
    this.#event('retry', { channel: def.name, to: target ?? '', retries });
    if (target === undefined) return;
    if (target === this.name) await this.startChannel(def.name);
    else await this.group.request(target, def.name, 'start', 'retry');
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }

  /** The running channel initiator workload balancing picks, leaving out `exclude`. */
  async #balance(exclude: readonly string[]): Promise<string | undefined> {
    return balance(this.group, exclude);
  }

  /**
   * Failure scenario 4: a member ended. When neither its queue manager nor its channel
   * initiator is left, this initiator tries to win each of its channels (the queue manager,
   * while it lives, recovers the channels of its own initiator: scenario 3).
   */
  async #memberEnded(data: Args): Promise<void> {
    const gone = String(data['name']);
    if (gone === this.name || this.#closed) return;
    const members = await this.group.members();
    if (members.some((m) => m.name === gone)) return;
    await this.recoverChannelsOf(gone);
  }

  /** Takes over the channels `owner` was responsible for, each won by compare-and-swap. */
  async recoverChannelsOf(owner: string): Promise<string[]> {
    const channels = await this.group.channels();
    const won: string[] = [];
    for (const def of channels) {
      const read = await this.status.read(def.statusSlot);
      const entry = read.entry;
      if (entry === undefined || entry.owner !== owner || !OWNED_STATUSES.has(entry.status)) continue;
      if (await this.#win(def, read, entry)) won.push(def.name);
    }
    return won;
  }

  /** Channels owned by no running member (after a restart of the whole group, say). */
  async recoverOrphans(): Promise<string[]> {
    const members = new Set((await this.group.members()).map((m) => m.name));
    const won: string[] = [];
    for (const def of await this.group.channels()) {
      const read = await this.status.read(def.statusSlot);
      const entry = read.entry;
      if (entry === undefined || !OWNED_STATUSES.has(entry.status)) continue;
      // Its own name: channels its previous incarnation ran, which no peer took over.
      if (entry.owner !== '' && entry.owner !== this.name && members.has(entry.owner)) continue;
      if (entry.owner === this.name && this.#senders.has(def.name)) continue;
      if (await this.#win(def, read, entry)) won.push(def.name);
    }
    return won;
  }

  async #win(def: ChannelDefinition, read: StatusRead, entry: StatusEntry): Promise<boolean> {
    if (def.type === 'receiver') {
      // Its remote sender restarts it at the group's generic address; any member accepts it.
      await this.status.update(read, { ...entry, status: 'inactive', owner: '' });
      return false;
    }
    const after = await this.status.update(read, { ...entry, status: 'recovering', owner: this.name });
    this.#event('recover', { channel: def.name, from: entry.owner, won: after !== undefined });
    if (after === undefined) return false;
    // Not awaited: the channels it won start side by side.
    void this.startChannel(def.name).catch(() => undefined);
    return true;
  }

  /**
   * Triggered start: a transmission queue that triggers puts a trigger message on the shared
   * channel initiation queue; the initiator that gets it starts the channel named by the
   * queue's trigger data (or the sender channel of that transmission queue) on the member
   * workload balancing picks.
   */
  async #monitorTriggers(): Promise<void> {
    try {
      this.#triggers = await this.group.session();
    } catch {
      return;
    }
    while (!this.#closed && !this.group.closed) {
      let message;
      try {
        message = await this.#triggers.get(CHANNEL_INITIATION_QUEUE, { waitMs: 1000, syncpoint: false });
      } catch (error) {
        if (isSanmqError(error, 'E_UNKNOWN_QUEUE')) await this.#sleep(1000);
        else if (this.group.closed || this.#closed) return;
        else await this.#sleep(100);
        continue;
      }
      if (message === undefined) continue;
      await this.#triggered(message.body).catch(() => undefined);
    }
  }

  async #triggered(body: Uint8Array): Promise<void> {
    const trigger = JSON.parse(Buffer.from(body).toString('utf8')) as { queue?: string; triggerData?: string };
    const channels = await this.group.channels();
    const def = channels.find((c) => c.type === 'sender' && c.name === trigger.triggerData) ??
      channels.find((c) => c.type === 'sender' && c.transmissionQueue === trigger.queue);
    if (def === undefined) return;
    const { entry } = await this.status.read(def.statusSlot);
    if (entry !== undefined && (entry.status === 'stopped' || (OWNED_STATUSES.has(entry.status) &&
        entry.status !== 'retrying'))) return;
    const target = await this.#balance([]);
    this.#event('triggered', { channel: def.name, to: target ?? '' });
    if (target === this.name) await this.startChannel(def.name);
    else if (target !== undefined) await this.group.request(target, def.name, 'start', 'trigger');
  }

  /** Stops every instance here and closes the listener and the member connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const agent of this.#senders.values()) agent.stop();
    await this.#listener?.close();
    await this.#triggers?.close();
    this.group.close();
  }
}

export function statusEvent(entry: StatusEntry): Args {
  return { ...entry, updated: entry.updated.getTime() };
}

/** Workload balancing over the running channel initiators of the group. */
export async function balance(group: GroupClient, exclude: readonly string[]): Promise<string | undefined> {
  const initiators = (await group.members()).filter((m) => m.role === 'channel-initiator' && m.ending !== true)
    .map((m) => ({ name: m.name, channelsMax: CHANNELS_MAX }));
  const channels = await group.channels();
  const entries = await new StatusTable(group.slots).list(channels.map((c) => c.statusSlot));
  return chooseMember(initiators, entries, exclude);
}

/**
 * Failure scenario 3, run by a queue manager whose channel initiator failed: the channels the
 * initiator owned are read from the status table, the initiator is confirmed still inactive,
 * and each channel goes, by compare-and-swap, to the initiator workload balancing picks, which
 * is asked to start it.
 */
export async function recoverInitiator(group: GroupClient, name: string): Promise<string[]> {
  const members = await group.members();
  if (members.some((m) => m.name === name && m.role === 'channel-initiator')) return [];
  const status = new StatusTable(group.slots);
  const moved: string[] = [];
  for (const def of await group.channels()) {
    const read = await status.read(def.statusSlot);
    const entry = read.entry;
    if (entry === undefined || entry.owner !== name || !OWNED_STATUSES.has(entry.status)) continue;
    if (def.type === 'receiver') {
      await status.update(read, { ...entry, status: 'inactive', owner: '' });
      continue;
    }
    const target = await balance(group, [name]);
    const after = await status.update(read, { ...entry, status: 'recovering', owner: target ?? '' });
    if (after === undefined || target === undefined) continue;
    await group.request(target, def.name, 'recover', `channel initiator ${name} failed`)
      .catch(() => undefined);
    moved.push(def.name);
  }
  return moved;
}

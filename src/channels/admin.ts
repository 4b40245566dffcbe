/**
 * The operator's view of the group's channels, in the controller's thread: DISPLAY CHSTATUS
 * (read from the shared status table), START and STOP CHANNEL (requests sent to the channel
 * initiator workload balancing picks, or to the owner), and the group's generic inbound
 * address: one TCP port that hands each inbound channel to a running channel initiator, so
 * that a remote queue manager sees the group as one (US 2002/0064126, paragraph 0037).
 */
import net from 'node:net';

import { SanmqError } from '../errors.js';
import { isLoopback, type Listener } from '../protocol/listener.js';
import type { Controller } from '../controller/controller.js';
import type { ChannelDefinition } from './definition.js';
import { chooseMember } from './group.js';
import { CHANNELS_MAX } from './initiator.js';
import { OWNED_STATUSES, StatusTable, type ChannelStatus, type StatusEntry, type StatusRead } from './status.js';

export interface ChannelStatusRow {
  name: string;
  type: ChannelDefinition['type'];
  /** 'inactive' when the channel never ran. */
  status: ChannelStatus;
  /** The entry of the shared status table, when there is one. */
  entry: StatusEntry | undefined;
  /** Whether the owner's channel initiator is running. */
  ownerRunning: boolean;
}

/** Inbound connections the generic address hands on at once. */
const GENERIC_CONNECTIONS_MAX = 1024;

export class ChannelAdmin {
  readonly #controller: Controller;
  readonly #status: StatusTable;

  constructor(controller: Controller) {
    this.#controller = controller;
    this.#status = new StatusTable(controller.lun.slots);
  }

  #initiators(): string[] {
    return this.#controller.members.members()
      .filter((m) => m.role === 'channel-initiator' && !m.ending).map((m) => m.name);
  }

  async #reads(): Promise<Array<{ def: ChannelDefinition; read: StatusRead }>> {
    const defs = this.#controller.channelList();
    const reads = await this.#status.list(defs.map((d) => d.statusSlot));
    return defs.map((def, i) => ({ def, read: reads[i] as StatusRead }));
  }

  /** DISPLAY CHSTATUS: every defined channel (or the one named) as the status table has it. */
  async status(name?: string): Promise<ChannelStatusRow[]> {
    const running = new Set(this.#initiators());
    return (await this.#reads()).filter(({ def }) => name === undefined || def.name === name)
      .map(({ def, read }) => ({ name: def.name, type: def.type,
        status: read.entry?.status ?? 'inactive', entry: read.entry,
        ownerRunning: read.entry !== undefined && running.has(read.entry.owner) }));
  }

  /**
   * START CHANNEL: asks the channel initiator workload balancing picks to start a sender
   * channel; resolves with its name. E_CHANNEL_ACTIVE when an instance runs already.
   */
  async start(name: string): Promise<string> {
    const def = this.#controller.channel(name);
    if (def.type !== 'sender') {
      throw new SanmqError('E_INVALID_ARGUMENT', `channel '${name}' is a receiver: its remote sender starts it`);
    }
    const reads = await this.#reads();
    const read = reads.find((r) => r.def.name === name)?.read as StatusRead;
    const entry = read.entry;
    if (entry !== undefined && (entry.status === 'running' || entry.status === 'starting') &&
        this.#initiators().includes(entry.owner)) {
      throw new SanmqError('E_CHANNEL_ACTIVE', `channel '${name}' runs on ${entry.owner}`, { channel: name });
    }
    if (entry?.status === 'stopped') {
      await this.#status.update(read, { ...entry, status: 'inactive', owner: '', retries: 0 });
    }
    const target = chooseMember(this.#initiators().map((n) => ({ name: n, channelsMax: CHANNELS_MAX })),
      reads.map((r) => r.read));
    if (target === undefined) {
      throw new SanmqError('E_QM_NOT_AVAILABLE', 'no channel initiator of the group is running');
    }
    this.#controller.members.request(target, { channel: name, action: 'start', from: 'operator', reason: 'operator' });
    return target;
  }

  /**
   * STOP CHANNEL: the owner ends the instance after its batch in flight; a channel waiting to
   * retry is marked stopped. Triggers do not start a stopped channel; START does.
   */
  async stop(name: string): Promise<void> {
    const def = this.#controller.channel(name);
    const read = await this.#status.read(def.statusSlot);
    const entry = read.entry;
    if (entry === undefined || !OWNED_STATUSES.has(entry.status)) {
      throw new SanmqError('E_CHANNEL_NOT_ACTIVE', `channel '${name}' is not running`, { channel: name });
    }
    if (entry.status === 'retrying' || !this.#initiators().includes(entry.owner)) {
      await this.#status.update(read, { ...entry, status: 'stopped', owner: '' });
    }
    if (this.#initiators().includes(entry.owner)) {
      this.#controller.members.request(entry.owner, { channel: name, action: 'stop', from: 'operator', reason: 'operator' });
    }
  }

  /**
   * The group's generic inbound address: each connection is handed to the running channel
   * initiator with the fewest connections handed to it (127.0.0.1 unless told otherwise).
   */
  async listenGeneric(options: { host?: string; port?: number } = {}): Promise<Listener> {
    const host = options.host ?? '127.0.0.1';
    if (!isLoopback(host)) {
      throw new SanmqError('E_INVALID_ARGUMENT', 'the generic address listens on loopback; ' +
        'the channel initiators behind it hold the secrets and certificates');
    }
    const handed = new Map<string, number>();
    const sockets = new Set<net.Socket>();
    const server = net.createServer((inbound) => {
      if (sockets.size >= GENERIC_CONNECTIONS_MAX) {
        inbound.destroy();
        return;
      }
      const targets = this.#controller.queueManagers()
        .map((qm) => ({ name: qm.name, address: qm.channelInitiator?.address }))
        .filter((t): t is { name: string; address: { host: string; port: number } } => t.address !== undefined)
        .sort((a, b) => (handed.get(a.name) ?? 0) - (handed.get(b.name) ?? 0) || (a.name < b.name ? -1 : 1));
      const target = targets[0];
      if (target === undefined) {
        inbound.destroy();
        return;
      }
      handed.set(target.name, (handed.get(target.name) ?? 0) + 1);
      const outbound = net.connect(target.address.port, target.address.host);
      sockets.add(inbound);
      sockets.add(outbound);
      let done = false;
      const end = (): void => {
        if (done) return;
        done = true;
        handed.set(target.name, (handed.get(target.name) ?? 1) - 1);
        sockets.delete(inbound);
        sockets.delete(outbound);
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', end).on('close', end);
      outbound.on('error', end).on('close', end);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new SanmqError(
        error.code === 'EADDRINUSE' ? 'E_BUSY' : 'E_IO', `cannot listen on ${host}:${options.port ?? 0}: ${error.message}`)));
      server.listen(options.port ?? 0, host, resolve);
    });
    const address = server.address() as net.AddressInfo;
    return {
      host, port: address.port,
      close: async () => {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }
}
